//! `appliance-sign --key FILE [--generate] DIR`: the publisher's last step.
//! Checks that `DIR/catalogue.json` is a well-formed catalogue whose images are
//! present with the sizes and hashes it states, then writes the Ed25519
//! signature `DIR/catalogue.json.sig` and prints the public key. `cargo xtask
//! publish` runs it; with `--generate` a missing key file is created (0600).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appliance-sign: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (mut key, mut generate, mut dir) = (None, false, None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key" => key = Some(PathBuf::from(it.next().ok_or("--key needs a file")?)),
            "--generate" => generate = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let (key, dir) = (key.ok_or("--key FILE is required")?, dir.ok_or("the catalogue DIR is required")?);
    let pkcs8 = read_or_generate(&key, generate)?;
    let json_path = dir.join(appliance::CATALOGUE_FILE);
    let json = std::fs::read(&json_path).map_err(|e| format!("cannot read {}: {e}", json_path.display()))?;
    check(&dir, &json)?;
    let (signature, public) = appliance::sign(&pkcs8, &json)?;
    std::fs::write(dir.join(appliance::SIGNATURE_FILE), &signature).map_err(|e| e.to_string())?;
    // Round trip: what we wrote verifies with the key we print.
    appliance::verify_catalogue(&json, &signature, &public).map_err(|e| e.to_string())?;
    println!("{}", appliance::base64(&public));
    Ok(())
}

fn read_or_generate(key: &Path, generate: bool) -> Result<Vec<u8>, String> {
    if key.exists() || !generate {
        return std::fs::read(key).map_err(|e| format!("cannot read the signing key {}: {e}", key.display()));
    }
    let pkcs8 = appliance::generate_key()?;
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key)
        .map_err(|e| format!("cannot create {}: {e}", key.display()))?;
    std::io::Write::write_all(&mut f, &pkcs8).map_err(|e| e.to_string())?;
    eprintln!("appliance-sign: generated a new publisher key in {}", key.display());
    Ok(pkcs8)
}

/// The catalogue parses as our format and every image matches its entry.
fn check(dir: &Path, json: &[u8]) -> Result<(), String> {
    let catalogue: appliance::Catalogue =
        serde_json::from_slice(json).map_err(|e| format!("catalogue.json is not a valid catalogue: {e}"))?;
    for e in &catalogue.appliances {
        let bytes = std::fs::read(dir.join(&e.image)).map_err(|err| format!("{}: {err}", e.image))?;
        if bytes.len() as u64 != e.size || appliance::sha256_hex(&bytes) != e.sha256 {
            return Err(format!("{} does not match its entry (size or SHA-256)", e.image));
        }
    }
    Ok(())
}
