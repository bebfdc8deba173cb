//! `appliance`: pick an appliance from the catalogue, download its image, check
//! it is the one that was published, and boot it with the tender.
//!
//! ```text
//! appliance [--catalogue URL] [--public-key KEY] list
//! appliance fetch NAME[@VERSION]
//! appliance info NAME[@VERSION]
//! appliance verify FILE
//! appliance run NAME[@VERSION] [--target hvt|unix] [--tender PATH] [--engine E] [--mem MiB] [-- ARGS]
//! ```

mod download;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use appliance::{Catalogue, Entry};

/// Where the catalogue is read from when neither `--catalogue` nor
/// `APPLIANCE_CATALOGUE` says: the address `cargo xtask publish` tells you to
/// serve a local catalogue on (the project has no public host yet).
const DEFAULT_CATALOGUE: &str = "http://127.0.0.1:8417/";

const USAGE: &str = "usage: appliance [OPTIONS] COMMAND
commands:
  list                     the appliances in the catalogue
  fetch NAME[@VERSION]     download an image into the cache and check it
  info NAME[@VERSION]      what an image needs and how it was built
  verify FILE              check an image file against the catalogue
  run NAME[@VERSION] [--target hvt|unix] [--tender PATH] [--engine kvm|process|auto]
                     [--mem MiB] [-- ARGS]
                           fetch if needed, set up its devices, boot it
options:
  --catalogue URL          http://, https:// or file:// (env APPLIANCE_CATALOGUE;
                           default http://127.0.0.1:8417/)
  --public-key KEY|FILE    base64 Ed25519 key the catalogue must be signed with
                           (env APPLIANCE_PUBLIC_KEY; default: the project's release key)
  --cache DIR              where images are kept (env APPLIANCE_CACHE;
                           default $XDG_CACHE_HOME/appliance)";

/// A failure the user sees: one message, a non-zero exit.
pub struct Failure {
    pub message: String,
    pub status: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure { message: e.to_string(), status: 1 }
    }
}

pub type Result<T = ()> = std::result::Result<T, Failure>;

fn usage(message: impl Into<String>) -> Failure {
    Failure { message: format!("{}\n{USAGE}", message.into()), status: 2 }
}

/// Settings shared by every command.
pub struct Settings {
    pub catalogue_url: String,
    pub public_key: Vec<u8>,
    pub cache: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match real_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("appliance: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}

fn real_main(mut args: Vec<String>) -> Result {
    let mut catalogue = std::env::var("APPLIANCE_CATALOGUE").ok();
    let mut public_key = std::env::var("APPLIANCE_PUBLIC_KEY").ok();
    let mut cache = std::env::var_os("APPLIANCE_CACHE").map(PathBuf::from);
    while let Some(first) = args.first().cloned() {
        let Some(opt) = first.strip_prefix("--") else { break };
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (opt.to_string(), None),
        };
        if name == "help" {
            println!("{USAGE}");
            return Ok(());
        }
        args.remove(0);
        let value = match value {
            Some(v) => v,
            None if !args.is_empty() => args.remove(0),
            None => return Err(usage(format!("--{name} needs a value"))),
        };
        match name.as_str() {
            "catalogue" => catalogue = Some(value),
            "public-key" => public_key = Some(value),
            "cache" => cache = Some(PathBuf::from(value)),
            _ => return Err(usage(format!("unknown option --{name}"))),
        }
    }
    let Some(command) = args.first().cloned() else { return Err(usage("no command given")) };
    let rest = &args[1..];
    let settings = Settings {
        catalogue_url: catalogue.unwrap_or_else(|| DEFAULT_CATALOGUE.to_string()),
        public_key: read_public_key(public_key.as_deref())?,
        cache: cache.unwrap_or_else(default_cache),
    };
    match command.as_str() {
        "list" => no_more(rest).and_then(|()| list(&settings)),
        "fetch" => one_name(rest).and_then(|n| fetch(&settings, &n).map(|p| println!("{}", p.display()))),
        "info" => one_name(rest).and_then(|n| info(&settings, &n)),
        "verify" => one_name(rest).and_then(|f| verify(&settings, &f)),
        "run" => run::main(&settings, rest),
        "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

fn no_more(rest: &[String]) -> Result {
    match rest.first() {
        Some(a) => Err(usage(format!("unexpected argument `{a}`"))),
        None => Ok(()),
    }
}

fn one_name(rest: &[String]) -> Result<String> {
    match rest {
        [one] => Ok(one.clone()),
        [] => Err(usage("this command needs a NAME (or FILE)")),
        [_, extra, ..] => Err(usage(format!("unexpected argument `{extra}`"))),
    }
}

/// The key given (base64, or a file holding base64), or the release key.
fn read_public_key(given: Option<&str>) -> Result<Vec<u8>> {
    let text = match given {
        None => appliance::RELEASE_PUBLIC_KEY.to_string(),
        Some(v) if std::path::Path::new(v).is_file() => {
            std::fs::read_to_string(v).map_err(|e| format!("cannot read the public key file {v}: {e}"))?
        }
        Some(v) => v.to_string(),
    };
    Ok(appliance::parse_public_key(&text)?)
}

fn default_cache() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("appliance"),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/appliance"),
    }
}

/// Downloads and verifies the signed catalogue.
pub fn load_catalogue(settings: &Settings) -> Result<Catalogue> {
    let json = download::get(&settings.catalogue_url, appliance::CATALOGUE_FILE)?;
    let signature = download::get(&settings.catalogue_url, appliance::SIGNATURE_FILE).map_err(|f| Failure {
        message: format!("the catalogue is unsigned or its signature is missing: {}", f.message),
        status: 1,
    })?;
    Ok(appliance::verify_catalogue(&json, &signature, &settings.public_key)?)
}

fn list(settings: &Settings) -> Result {
    let catalogue = load_catalogue(settings)?;
    println!("{:<10} {:<8} {:>9}  {:<22} {:<9} purpose", "name", "version", "size", "devices", "targets");
    for e in &catalogue.appliances {
        let devices: Vec<String> = e.devices.iter().map(|d| format!("{}:{}", d.name, d.kind)).collect();
        println!(
            "{:<10} {:<8} {:>7.2}MB  {:<22} {:<9} {}",
            e.name,
            e.version,
            e.size as f64 / 1e6,
            devices.join(","),
            e.targets.join(","),
            e.purpose
        );
    }
    Ok(())
}

/// Path of an entry's image in the cache (present only once verified).
pub fn cached_image(settings: &Settings, entry: &Entry) -> PathBuf {
    settings.cache.join("images").join(format!("{}-{}.hvt", entry.name, entry.version))
}

/// Downloads the image of `spec` into the cache unless a verified copy is there.
pub fn fetch(settings: &Settings, spec: &str) -> Result<PathBuf> {
    let catalogue = load_catalogue(settings)?;
    let entry = catalogue.find(spec)?;
    fetch_entry(settings, entry)
}

pub fn fetch_entry(settings: &Settings, entry: &Entry) -> Result<PathBuf> {
    let path = cached_image(settings, entry);
    if path.exists() {
        // Re-checked every time: a cache file changed on disk is not booted.
        if check_file(&path, entry).is_ok() {
            eprintln!("{}@{}: in the cache, SHA-256 verified", entry.name, entry.version);
            return Ok(path);
        }
        eprintln!("{}: does not match the catalogue any more; downloading again", path.display());
        std::fs::remove_file(&path)?;
    }
    std::fs::create_dir_all(path.parent().expect("cache path has a parent"))?;
    let part = path.with_extension("hvt.part");
    download::to_file(&settings.catalogue_url, &entry.image, &part, entry.size)?;
    if let Err(f) = check_file(&part, entry) {
        let _ = std::fs::remove_file(&part);
        return Err(Failure { message: format!("{}; the download was deleted", f.message), status: 1 });
    }
    std::fs::rename(&part, &path)?;
    eprintln!("{}@{}: downloaded, SHA-256 verified", entry.name, entry.version);
    Ok(path)
}

/// Whether `path` holds exactly the image of `entry`.
pub fn check_file(path: &std::path::Path, entry: &Entry) -> Result {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let actual = appliance::sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(appliance::Error::HashMismatch {
            what: format!("{} ({} bytes)", path.display(), bytes.len()),
            expected: entry.sha256.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

fn info(settings: &Settings, spec: &str) -> Result {
    let catalogue = load_catalogue(settings)?;
    let e = catalogue.find(spec)?;
    println!("name:           {}", e.name);
    println!("version:        {}", e.version);
    println!("purpose:        {}", e.purpose);
    println!("image:          {} ({} bytes)", e.image, e.size);
    println!("sha256:         {}", e.sha256);
    println!("source commit:  {}{}", e.source_commit, if e.source_dirty { " (with uncommitted changes)" } else { "" });
    println!("Cargo.lock:     sha256 {}", e.cargo_lock_sha256);
    println!("targets:        {}", e.targets.join(", "));
    println!("devices:");
    for d in &e.devices {
        println!("  {} ({})", d.name, d.kind);
    }
    println!("boot arguments:");
    for a in &e.args {
        println!("  {:<38} {}", a.usage, a.help);
    }
    Ok(())
}

fn verify(settings: &Settings, file: &str) -> Result {
    let catalogue = load_catalogue(settings)?;
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let sha = appliance::sha256_hex(&bytes);
    if let Some(e) = catalogue.find_by_hash(&sha) {
        println!("{file}: {}@{} as published (source {}), sha256 {sha}", e.name, e.version, e.source_commit);
        return Ok(());
    }
    // Name the image it claims to be, when its file name says.
    let stem = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let claimed = catalogue.appliances.iter().find(|e| stem == e.name || stem == format!("{}-{}", e.name, e.version));
    match claimed {
        Some(e) => Err(appliance::Error::HashMismatch {
            what: format!("{file} ({} bytes)", bytes.len()),
            expected: e.sha256.clone(),
            actual: sha,
        }
        .into()),
        None => Err(format!("{file}: sha256 {sha} is not an image of this catalogue").into()),
    }
}
