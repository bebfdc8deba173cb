//! The runner: unix device arguments and whole runs of a small appliance.

use std::fs;
use std::path::PathBuf;

use platform::appliance::{AppResult, Env, FAILURE_EXIT};
use platform::args::{ArgSpec, USAGE_EXIT};
use platform::net::MacAddr;
use platform::rt::LocalBoxFuture;
use platform::{Appliance, Device};
use platform_unix::{BlockArg, NetArg, run_with_args, split_device_args};

const DEVICES: &[Device] = &[Device::net("service"), Device::net("uplink"), Device::block("storage")];

fn argv(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn splits_device_arguments_from_boot_arguments() {
    let (devs, rest) = split_device_args(
        DEVICES,
        &argv(&[
            "--ipv4=10.0.0.2/24",
            "--net:service=tap0",
            "-l",
            "debug",
            "--net-mac:service=02:00:00:00:00:09",
            "--block:storage=/tmp/disk.img",
            "--block-sector-size:storage=4096",
            "--net:uplink=tap1",
        ]),
    )
    .unwrap();
    assert_eq!(rest, argv(&["--ipv4=10.0.0.2/24", "-l", "debug"]));
    assert_eq!(
        devs.nets,
        vec![
            NetArg { name: "service".into(), tap: "tap0".into(), mac: Some(MacAddr([2, 0, 0, 0, 0, 9])) },
            NetArg { name: "uplink".into(), tap: "tap1".into(), mac: None },
        ]
    );
    assert_eq!(
        devs.blocks,
        vec![BlockArg { name: "storage".into(), path: PathBuf::from("/tmp/disk.img"), sector_size: 4096 }]
    );
}

#[test]
fn no_device_arguments_is_fine() {
    let (devs, rest) = split_device_args(DEVICES, &argv(&["--dhcp"])).unwrap();
    assert!(devs.nets.is_empty() && devs.blocks.is_empty());
    assert_eq!(rest, argv(&["--dhcp"]));
}

#[test]
fn bad_device_arguments_name_the_problem() {
    let err = |a: &[&str]| split_device_args(DEVICES, &argv(a)).unwrap_err();
    let e = err(&["--net:wan=tap0"]);
    assert!(e.contains("unknown net device 'wan'") && e.contains("service, uplink"), "{e}");
    let e = err(&["--block:disk=x.img"]);
    assert!(e.contains("unknown block device 'disk'") && e.contains("storage"), "{e}");
    let e = err(&["--net:storage=tap0"]);
    assert!(e.contains("'storage'") && e.contains("is a block device"), "{e}");
    let e = err(&["--block:service=x.img"]);
    assert!(e.contains("is a net device"), "{e}");
    let e = err(&["--net:service"]);
    assert!(e.contains("expected --net:NAME=TAP"), "{e}");
    let e = err(&["--net:service="]);
    assert!(e.contains("malformed"), "{e}");
    let e = err(&["--net:service=tap0", "--net:service=tap1"]);
    assert!(e.contains("more than once"), "{e}");
    let e = err(&["--net:service=tap0", "--net-mac:service=zz:00:00:00:00:00"]);
    assert!(e.contains("zz:00"), "{e}");
    let e = err(&["--net:service=tap0", "--net-mac:service=ff:ff:ff:ff:ff:ff"]);
    assert!(e.contains("unicast"), "{e}");
    let e = err(&["--net-mac:service=02:00:00:00:00:01"]);
    assert!(e.contains("without --net:service"), "{e}");
    let e = err(&["--block:storage=a", "--block-sector-size:storage=1000"]);
    assert!(e.contains("power of two"), "{e}");
    let e = err(&["--block:storage=a", "--block-sector-size:storage=256"]);
    assert!(e.contains("power of two"), "{e}");
    let e = err(&["--block-sector-size:storage=4096"]);
    assert!(e.contains("without --block:storage"), "{e}");
}

/// A tiny appliance: writes a sector and flushes it, checks its stack,
/// and fails when asked to.
fn tiny_main(env: Env) -> LocalBoxFuture<'static, AppResult> {
    Box::pin(async move {
        if env.args().flag("fail") {
            return Err("asked to fail".into());
        }
        let stack = env.stack()?;
        assert_eq!(stack.describe(), "host sockets");
        let listener = stack.tcp_listen("127.0.0.1:0".parse().unwrap())?;
        assert_ne!(listener.local_addr().port(), 0);
        if let Ok(block) = env.block("storage") {
            let sector = vec![0x5a; block.info().sector_size];
            block.write(1, &sector)?;
            block.flush()?;
        }
        assert!(env.stack_on("nonexistent").is_err());
        let mut seed = [0u8; 16];
        env.entropy().fill(&mut seed);
        assert_ne!(seed, [0u8; 16]);
        assert_eq!(env.entropy().source(), "getrandom");
        Ok(())
    })
}

static TINY: Appliance = Appliance {
    name: "tiny",
    summary: "a test appliance",
    version: "0.0.1",
    devices: &[Device::net("service"), Device::block("storage")],
    args: &[ArgSpec::flag("fail", "return an error")],
    main: tiny_main,
};

#[test]
fn runs_an_appliance_with_a_block_file() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("runner-{}.img", std::process::id()));
    fs::File::create(&path).unwrap().set_len(4 * 512).unwrap();
    let arg = format!("--block:storage={}", path.display());
    assert_eq!(run_with_args(&TINY, argv(&[&arg, "-l", "debug"])), 0);
    let data = fs::read(&path).unwrap();
    assert!(data[512..1024].iter().all(|b| *b == 0x5a));
    assert!(data[..512].iter().all(|b| *b == 0));
    fs::remove_file(path).unwrap();
}

#[test]
fn runs_without_optional_block() {
    assert_eq!(run_with_args(&TINY, argv(&[])), 0);
}

#[test]
fn failing_main_exits_with_failure() {
    assert_eq!(run_with_args(&TINY, argv(&["--fail"])), FAILURE_EXIT);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run_with_args(&TINY, argv(&["--bogus"])), USAGE_EXIT);
    assert_eq!(run_with_args(&TINY, argv(&["--net:nope=tap0"])), USAGE_EXIT);
    assert_eq!(run_with_args(&TINY, argv(&["--block:service=x"])), USAGE_EXIT);
}

#[test]
fn help_exits_0() {
    assert_eq!(run_with_args(&TINY, argv(&["--help"])), 0);
    let help = platform_unix::device_help(&TINY);
    assert!(help.contains("--net:NAME=TAP") && help.contains("--block:NAME=FILE") && help.contains("storage (block)"));
}

#[test]
fn device_that_cannot_be_opened_exits_with_failure() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runner-missing.img");
    let arg = format!("--block:storage={}", missing.display());
    assert_eq!(run_with_args(&TINY, argv(&[&arg])), FAILURE_EXIT);
    assert_eq!(run_with_args(&TINY, argv(&["--net:service=no-such-tap9"])), FAILURE_EXIT);
}
