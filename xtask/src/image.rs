//! hvt images: build an appliance as a Solo5-hvt unikernel (`dist/<name>.hvt`), check it
//! against the loader rules, and keep `dist/SHA256SUMS`.
//!
//! How an image is built ([`build_image`]):
//! - `cargo build --release -p <pkg> --bin <bin> --target x86_64-unknown-linux-gnu` into
//!   `<target>/hvt` (`$CARGO_TARGET_DIR/hvt` or `<root>/target/hvt`, so host builds are
//!   not invalidated), with rustflags `--cfg solo5_hvt -C relocation-model=static
//!   -C linker-flavor=gcc -C linker=platform/hvt/hvt-link` (the wrapper drops glibc and
//!   links with `platform/hvt/hvt-std.ld`) and `--remap-path-prefix` for the checkout,
//!   `CARGO_HOME` and the target directory, so that two checkouts give the same bytes;
//!   the workspace release profile gives panic=abort, LTO, one codegen unit;
//! - the unstripped binary must import nothing (`nm -u` empty: every symbol std wants
//!   is implemented by platform-hvt's libc, weak ones included);
//! - `strip --strip-all` into `dist/<name>.hvt`, then [`check_image`]: ELF64 `ET_EXEC`
//!   for x86_64, entry and `PT_LOAD`s at or above 0x100000, 4 KiB aligned, ascending,
//!   none both W and X; the Solo5 ABI note (target hvt = 1, version 2) and a manifest
//!   note, each the first note of its own `PT_NOTE`; no `syscall`/`sysenter`/`int 0x80`
//!   in `objdump -d`; no dynamic section;
//! - prints the size and rewrites `dist/SHA256SUMS` over every `dist/*.hvt`.
//!
//! Needs `cc` (the link driver; lld comes with rustc), `nm`, `strip` and `objdump`
//! (binutils).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The images `cargo xtask image` knows: `(image name, package, binary)`.
pub const IMAGES: &[(&str, &str, &str)] = &[
    ("contract", "platform-contract", "contract-server"),
    ("hello", "platform-contract", "hello"),
    ("dhcp", "dhcp", "dhcp"),
    ("dns", "dns", "dns"),
    ("pinata", "pinata", "pinata"),
];

/// The rustc target of std images.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// What [`check_image`] found.
#[derive(Debug, Clone)]
pub struct ImageReport {
    pub path: PathBuf,
    pub size: u64,
    pub entry: u64,
    /// `(vaddr, memsz, flags)` of each `PT_LOAD`.
    pub loads: Vec<(u64, u64, u32)>,
    /// `(name, type)` of each manifest device (type 1 = block, 2 = net).
    pub devices: Vec<(String, u32)>,
    pub sha256: String,
}

impl ImageReport {
    /// One line for the build log.
    pub fn summary(&self) -> String {
        let devices: Vec<String> =
            self.devices.iter().map(|(n, t)| format!("{n} ({})", if *t == 1 { "block" } else { "net" })).collect();
        format!(
            "{}: {} bytes ({:.2} MB), entry {:#x}, {} PT_LOADs, devices: {}, sha256 {}",
            self.path.display(),
            self.size,
            self.size as f64 / 1e6,
            self.entry,
            self.loads.len(),
            if devices.is_empty() { "none".into() } else { devices.join(", ") },
            self.sha256
        )
    }
}

/// `$CARGO_TARGET_DIR/hvt`, or `<root>/target/hvt`.
pub fn hvt_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d.join("hvt") } else { root.join(d).join("hvt") }
        }
        _ => root.join("target").join("hvt"),
    }
}

fn cargo_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo"))
}

/// The rustflags of an image build, one flag per element.
pub fn image_rustflags(root: &Path, target_dir: &Path) -> Vec<String> {
    let mut f: Vec<String> = vec![
        "--cfg".into(),
        "solo5_hvt".into(),
        "-C".into(),
        "relocation-model=static".into(),
        "-C".into(),
        "linker-flavor=gcc".into(),
        "-C".into(),
        format!("linker={}", root.join("platform/hvt/hvt-link").display()),
    ];
    // Longest prefixes first: the target dir may live inside the checkout.
    let mut remaps = vec![(target_dir.to_path_buf(), "/target"), (root.to_path_buf(), ".")];
    if let Some(home) = cargo_home() {
        remaps.push((home, "/cargo"));
    }
    remaps.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
    for (from, to) in remaps {
        f.push(format!("--remap-path-prefix={}={to}", from.display()));
    }
    f
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let line = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {line}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{line} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds `bin` of package `appliance_pkg` as an hvt image, copies it (stripped) to
/// `<root>/dist/<out_name>.hvt`, checks it, prints its size and rewrites
/// `dist/SHA256SUMS`. Returns the image's path.
pub fn build_image(root: &Path, appliance_pkg: &str, bin: &str, out_name: &str) -> Result<PathBuf, String> {
    build_image_in(root, &hvt_target_dir(root), appliance_pkg, bin, out_name)
}

/// [`build_image`] with an explicit target directory.
pub fn build_image_in(
    root: &Path,
    target_dir: &Path,
    appliance_pkg: &str,
    bin: &str,
    out_name: &str,
) -> Result<PathBuf, String> {
    let root = root.canonicalize().map_err(|e| format!("{}: {e}", root.display()))?;
    let target_dir = target_dir.to_path_buf();
    let flags = image_rustflags(&root, &target_dir);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "-p", appliance_pkg, "--bin", bin, "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        // Symbols stay in the build output for the import check; dist gets a stripped copy.
        .env("CARGO_PROFILE_RELEASE_STRIP", "none")
        .env_remove("RUSTFLAGS");
    println!(
        "$ cargo build --release -p {appliance_pkg} --bin {bin} --target {TARGET} --target-dir {} \\\n    (rustflags: {})",
        target_dir.display(),
        flags.join(" ")
    );
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {appliance_pkg} ({bin}) for hvt failed ({status})"));
    }
    let built = target_dir.join(TARGET).join("release").join(bin);
    let undefined = run(Command::new("nm").arg("-u").arg(&built))?;
    let undefined: Vec<&str> = undefined.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if !undefined.is_empty() {
        return Err(format!(
            "{} imports symbols platform-hvt does not implement: {}",
            built.display(),
            undefined.join(", ")
        ));
    }
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    let out = dist.join(format!("{out_name}.hvt"));
    run(Command::new("strip").arg("--strip-all").arg("-o").arg(&out).arg(&built))?;
    let report = match check_image(&out) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
    };
    println!("{}", report.summary());
    let sums = write_sha256sums(&dist)?;
    println!("{} updated", sums.display());
    Ok(out)
}

/// Rewrites `dist/SHA256SUMS` with the hash of every `*.hvt` in `dist`, sorted by name
/// (the `sha256sum` format, so `sha256sum -c SHA256SUMS` verifies it).
pub fn write_sha256sums(dist: &Path) -> Result<PathBuf, String> {
    let mut names: Vec<String> = std::fs::read_dir(dist)
        .map_err(|e| format!("{}: {e}", dist.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".hvt"))
        .collect();
    names.sort();
    let mut text = String::new();
    for n in names {
        let bytes = std::fs::read(dist.join(&n)).map_err(|e| format!("{n}: {e}"))?;
        let _ = writeln!(text, "{}  {n}", sha256_hex(&bytes));
    }
    let path = dist.join("SHA256SUMS");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

// --- ELF checks: the Solo5 loader's rules (shared/reference/solo5-hvt-abi.md §3), read by the
// tender's own reader (`hvt_abi::elf`), plus what only an image build can get wrong.

use hvt_abi::elf::{PF_W, PF_X, PT_DYNAMIC, PT_LOAD};
use hvt_abi::x86_64::{GUEST_MIN_BASE as MIN_BASE, MEM_MAX};

/// Checks an image file against the loader rules (see the module docs); returns what it
/// found.
pub fn check_image(path: &Path) -> Result<ImageReport, String> {
    let shown = path.display();
    let b = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let fail = |msg: String| Err(format!("{shown}: {msg}"));
    // The largest guest any tender can give it: the image must fit below 4 GiB.
    let img = match hvt_abi::elf::parse(&b, MEM_MAX) {
        Ok(i) => i,
        Err(e) => return fail(e.to_string()),
    };
    if img.phdrs().any(|p| p.p_type == PT_DYNAMIC) {
        return fail("has a PT_DYNAMIC segment (dynamically linked)".into());
    }
    let mut loads = Vec::new();
    for p in img.phdrs().filter(|p| p.p_type == PT_LOAD) {
        // The loader skips empty segments; none may be W+X all the same.
        if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
            return fail(format!("PT_LOAD at {:#x} is both writable and executable", p.vaddr));
        }
        loads.push((p.vaddr, p.memsz, p.flags));
    }
    let entry = img.entry;
    if !img.segments().any(|s| s.executable() && (s.vaddr..s.vaddr + s.memsz).contains(&entry)) {
        return fail(format!("entry point {entry:#x} is not in an executable PT_LOAD at or above {MIN_BASE:#x}"));
    }
    let devices = devices_of(&img.manifest);
    check_instructions(path)?;
    Ok(ImageReport { path: path.to_path_buf(), size: b.len() as u64, entry, loads, devices, sha256: sha256_hex(&b) })
}

/// `(name, type)` of each device of a validated manifest.
fn devices_of(m: &hvt_abi::Manifest) -> Vec<(String, u32)> {
    m.iter().skip(1).map(|(_, e)| (e.name_str().unwrap_or("?").to_string(), e.dev_type)).collect()
}

/// Fails when `objdump -d` finds an instruction that enters the host kernel directly.
fn check_instructions(path: &Path) -> Result<(), String> {
    let asm = run(Command::new("objdump").args(["-d", "--no-show-raw-insn", "-M", "att"]).arg(path))?;
    let mut bad = Vec::new();
    for line in asm.lines() {
        // "  10a2f3:\tsyscall" — address, tab, mnemonic and operands.
        let Some((addr, insn)) = line.split_once(":\t") else { continue };
        let mnemonic = insn.split_whitespace().next().unwrap_or("");
        let int80 = mnemonic == "int" && insn.contains("$0x80");
        if mnemonic == "syscall" || mnemonic == "sysenter" || int80 {
            bad.push(format!("{}: {}", addr.trim(), insn.trim()));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: contains system call instructions: {}", path.display(), bad.join("; ")))
    }
}

// --- SHA-256 (FIPS 180-4), so that xtask needs no dependency ---

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// SHA-256 of `data` as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `cargo xtask image [NAME...] [--check-reproducible]`: builds the named images (all of
/// [`IMAGES`] by default) into `dist/`, checks each, and rewrites `dist/SHA256SUMS`.
/// With `--check-reproducible`, the tracked and unignored files of the checkout are
/// copied to a second directory, built there with another target directory, and every
/// image must come out byte-identical.
pub fn main(args: &[String]) -> crate::util::Result {
    use crate::util::Error;
    let mut names = Vec::new();
    let mut reproducible = false;
    for a in args {
        match a.as_str() {
            "--check-reproducible" => reproducible = true,
            s if s.starts_with('-') => return Err(Error::usage(format!("unknown option `{s}` for image"))),
            s => names.push(s.to_string()),
        }
    }
    let selected: Vec<(&str, &str, &str)> = if names.is_empty() {
        IMAGES.to_vec()
    } else {
        names
            .iter()
            .map(|n| {
                IMAGES.iter().copied().find(|(name, _, _)| name == n).ok_or_else(|| {
                    let known: Vec<&str> = IMAGES.iter().map(|(n, _, _)| *n).collect();
                    Error::usage(format!("no hvt image named `{n}`; known: {}", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let root = crate::util::workspace_root();
    let mut built = Vec::new();
    for (name, pkg, bin) in &selected {
        let path = build_image(&root, pkg, bin, name).map_err(Error::msg)?;
        let digest = sha256_hex(&std::fs::read(&path)?);
        built.push((name.to_string(), digest));
    }
    if reproducible {
        let copy = std::env::temp_dir().join(format!("xtask-repro-{}", std::process::id()));
        let result = rebuild_elsewhere(&root, &copy, &selected, &built);
        let _ = std::fs::remove_dir_all(&copy);
        result.map_err(Error::msg)?;
        println!("reproducible: a second build in {} gave identical images", copy.display());
    }
    Ok(())
}

/// Copies the checkout's files (tracked and untracked-but-not-ignored) to `copy`, builds
/// the images there with their own target directory, and compares digests.
fn rebuild_elsewhere(
    root: &Path,
    copy: &Path,
    selected: &[(&str, &str, &str)],
    built: &[(String, String)],
) -> Result<(), String> {
    let files = run(Command::new("git").current_dir(root).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "-z",
    ]))?;
    for rel in files.split('\0').filter(|f| !f.is_empty()) {
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = copy.join(rel);
        std::fs::create_dir_all(to.parent().expect("file has a parent")).map_err(|e| e.to_string())?;
        std::fs::copy(&from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
    }
    for ((name, pkg, bin), (_, first)) in selected.iter().zip(built) {
        // A target directory outside both checkouts' trees and distinct from the first.
        let path = build_image_in(copy, &copy.join("target/hvt"), pkg, bin, name)?;
        let second = sha256_hex(&std::fs::read(&path).map_err(|e| e.to_string())?);
        if &second != first {
            return Err(format!("{name}.hvt is not reproducible: {first} here, {second} in {}", copy.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_vectors() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let long = vec![b'a'; 1000];
        assert_eq!(sha256_hex(&long), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }
}
