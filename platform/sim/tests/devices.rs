//! Hosts' block devices, entropy, console, crashes and appliances.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use platform::appliance::AppResult;
use platform::args::ArgSpec;
use platform::block::{Block, BlockError};
use platform::console::Console;
use platform::entropy::Entropy;
use platform::rt::LocalBoxFuture;
use platform::time;
use platform::{Appliance, Device, Env};
use platform_sim::{SimBlock, World};

#[test]
fn unflushed_writes_are_lost_in_a_crash_flushed_ones_kept() {
    let world = World::new(1);
    let host = world.add_host("db");
    let disk = host.add_block("storage", 512, 64);
    assert_eq!(disk.info().capacity_bytes(), 32 * 1024);
    disk.write(0, &[1u8; 1024]).unwrap();
    disk.flush().unwrap();
    disk.write(1, &[2u8; 512]).unwrap();
    disk.write(5, &[3u8; 512]).unwrap();
    let mut buf = vec![0u8; 1024];
    disk.read(0, &mut buf).unwrap();
    assert_eq!((&buf[..512], &buf[512..]), (&[1u8; 512][..], &[2u8; 512][..]), "reads see unflushed writes");
    assert_eq!(disk.unflushed_sectors(), 2);
    world.crash(&host);
    disk.read(0, &mut buf).unwrap();
    assert_eq!(buf, vec![1u8; 1024], "flushed data survives, the unflushed overwrite is gone");
    let mut one = vec![9u8; 512];
    disk.read(5, &mut one).unwrap();
    assert_eq!(one, vec![0u8; 512]);
    let s = disk.stats();
    assert_eq!((s.crashes, s.sectors_lost, s.flushes), (1, 2, 1));
}

#[test]
fn out_of_range_and_misaligned_requests_fail_and_transfer_nothing() {
    let disk = SimBlock::new("d", 4096, 4);
    let mut buf = vec![0u8; 8192];
    assert!(matches!(disk.read(3, &mut buf), Err(BlockError::OutOfRange { sector: 3, count: 2, sectors: 4 })));
    assert!(matches!(disk.write(4, &[7u8; 4096]), Err(BlockError::OutOfRange { .. })));
    assert!(matches!(disk.write(u64::MAX, &[7u8; 4096]), Err(BlockError::OutOfRange { .. })));
    assert!(matches!(disk.write(0, &[7u8; 100]), Err(BlockError::Misaligned { len: 100, sector_size: 4096 })));
    assert!(matches!(disk.read(0, &mut []), Err(BlockError::Misaligned { len: 0, .. })));
    disk.write(2, &[7u8; 8192]).unwrap();
    disk.flush().unwrap();
    assert_eq!(disk.unflushed_sectors(), 0);
    disk.crash();
    disk.read(2, &mut buf).unwrap();
    assert_eq!(buf, vec![7u8; 8192]);
    assert_eq!(disk.durable_bytes()[..8192], vec![0u8; 8192][..]);
}

#[test]
#[should_panic(expected = "not a power of two")]
fn bad_sector_size_is_a_test_bug() {
    SimBlock::new("d", 1000, 4);
}

#[test]
fn entropy_is_seeded_per_world_and_host() {
    let bytes = |seed: u64, host: &str| {
        let w = World::new(seed);
        w.add_host("first");
        let h = w.add_host(host);
        let mut b = [0u8; 32];
        h.entropy().fill(&mut b);
        (b, h.entropy().source().to_string())
    };
    let (a, src) = bytes(5, "x");
    assert_eq!(src, "sim seed 5");
    assert_eq!(a, bytes(5, "y").0, "depends on seed and index, not the name");
    assert_ne!(a, bytes(6, "x").0);
    let w = World::new(5);
    let (h0, h1) = (w.add_host("a"), w.add_host("b"));
    let (mut x, mut y) = ([0u8; 16], [0u8; 16]);
    h0.entropy().fill(&mut x);
    h1.entropy().fill(&mut y);
    assert_ne!(x, y);
}

#[test]
fn console_captures_lines_and_tests_can_wait_for_one() {
    let world = World::new(2);
    let host = world.add_host("app");
    let console = host.console();
    let line = world.run(async {
        let c = console.clone();
        host.spawn(async move {
            time::sleep(Duration::from_secs(3)).await;
            c.write_line("booting");
            time::sleep(Duration::from_secs(2)).await;
            c.write_line("ready on port 53");
        });
        console.wait_for("ready").await
    });
    assert_eq!(line, "ready on port 53");
    assert_eq!(world.now().as_millis(), 5000);
    assert_eq!(host.console_lines(), vec!["booting", "ready on port 53"]);
}

#[test]
fn crash_ends_the_hosts_tasks() {
    let world = World::new(3);
    let (victim, other) = (world.add_host("victim"), world.add_host("other"));
    let ticks = Rc::new(RefCell::new((0, 0)));
    world.run(async {
        for (host, slot) in [(&victim, 0), (&other, 1)] {
            let t = ticks.clone();
            host.spawn(async move {
                // Also a task spawned by a host task belongs to the host.
                let t2 = t.clone();
                platform::rt::spawn(async move {
                    loop {
                        time::sleep(Duration::from_secs(1)).await;
                        if slot == 0 {
                            t2.borrow_mut().0 += 1;
                        } else {
                            t2.borrow_mut().1 += 1;
                        }
                    }
                });
                std::future::pending::<()>().await
            });
        }
        time::sleep(Duration::from_millis(5500)).await;
        victim.crash();
        time::sleep(Duration::from_secs(5)).await;
    });
    assert_eq!(*ticks.borrow(), (5, 10));
    assert_eq!(Rc::strong_count(&ticks), 1);
}

// --- a small appliance -------------------------------------------------------

fn app_main(env: Env) -> LocalBoxFuture<'static, AppResult> {
    Box::pin(async move {
        let console = env.console();
        console.write_line(&format!("greeting: {}", env.args().get("greeting").unwrap_or("?")));
        log::info!("entropy from {}", env.entropy().source());
        let disk = env.block("storage")?;
        let mut buf = vec![0u8; disk.info().sector_size];
        disk.read(0, &mut buf)?;
        buf[0] = buf[0].wrapping_add(1);
        disk.write(0, &buf)?;
        disk.flush()?;
        console.write_line(&format!("boot count {}", buf[0]));
        let net = env.net("service")?;
        console.write_line(&format!("mac {}", net.info().mac));
        if env.args().flag("fail") {
            return Err("asked to fail".into());
        }
        time::sleep(Duration::from_secs(1)).await;
        Ok(())
    })
}

static APP: Appliance = Appliance {
    name: "testapp",
    summary: "a test appliance",
    version: "0",
    devices: &[Device::net("service"), Device::block("storage")],
    args: &[ArgSpec::value("greeting", "TEXT", "what to say"), ArgSpec::flag("fail", "fail at once")],
    main: app_main,
};

#[test]
fn appliances_boot_with_args_devices_and_logs() {
    let world = World::new(4);
    let host = world.add_host("box");
    let disk = host.add_block("storage", 512, 8);
    let results = world.run(async {
        let first = host.run_appliance(&APP, &["--greeting=hi", "-l", "debug"]).await;
        let second = host.run_appliance(&APP, &["--greeting", "again"]).await;
        let failed = host.run_appliance(&APP, &["--fail"]).await;
        let bad = host.run_appliance(&APP, &["--frobnicate"]).await;
        let help = host.run_appliance(&APP, &["--help"]).await;
        [first, second, failed, bad, help]
    });
    let [first, second, failed, bad, help] = results;
    assert_eq!(first, Ok(()));
    assert_eq!(second, Ok(()));
    assert_eq!(failed, Err("testapp: asked to fail".to_string()));
    let bad = bad.unwrap_err();
    assert!(bad.contains("--frobnicate") && bad.contains("exit status 2"), "{bad}");
    assert_eq!(help, Ok(()));
    let lines = host.console_lines();
    assert!(lines.contains(&"greeting: hi".to_string()), "{lines:?}");
    assert!(lines.contains(&"boot count 3".to_string()), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("entropy from sim seed 4")), "log output reaches the console: {lines:?}");
    assert!(lines.contains(&format!("mac {}", host.mac())));
    assert!(lines.iter().any(|l| l.contains("--greeting=TEXT")), "help text: {lines:?}");
    let mut buf = vec![0u8; 512];
    disk.read(0, &mut buf).unwrap();
    assert_eq!(buf[0], 3);
}

#[test]
fn appliance_stack_factory_reports_netstack_errors_not_panics() {
    let world = World::new(5);
    let host = world.add_host("box");
    world.run(async {
        // Bad IP arguments are a usage error before main runs.
        let r = host.run_appliance(&APP, &["--ipv4=10.0.0.300/24"]).await;
        assert!(r.unwrap_err().contains("--ipv4"));
        // host.stack validates its arguments the same way.
        let e = host.stack(&["--ipv4=nonsense"]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(host.stack_on("nope", &[]).is_err());
    });
}
