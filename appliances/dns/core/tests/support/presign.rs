//! A stand-in zone signer shared by the tests that serve pre-signed zones
//! (`differential.rs`, `transcripts.rs`): included with `#[path]`.

use dns_core::zone::Zone;
use hickory_proto::rr::{Name, RecordType};

/// Adds an NSEC chain and RRSIGs (RFC 4034) to a zone as a signer would: every
/// authoritative name gets an NSEC, every authoritative rrset an RRSIG; delegation NS
/// rrsets and glue get neither. Nothing validates the signatures, so their bytes come
/// from `signature`, called once per RRSIG in zone order: the caller chooses random
/// bytes or a fixed pattern.
pub fn presign(origin: &str, text: &str, mut signature: impl FnMut() -> Vec<u8>) -> String {
    let zone = Zone::parse(origin, text).unwrap_or_else(|e| panic!("{e}"));
    let apex = zone.origin().clone();
    let cuts: Vec<Name> =
        zone.nodes().filter(|n| n.name() != apex && n.rrset(RecordType::NS).is_some()).map(|n| n.name()).collect();
    let below_cut = |n: &Name| cuts.iter().any(|c| c.zone_of(n) && c != n);
    let names: Vec<Name> = zone.names().filter(|n| !below_cut(n)).collect();
    let mut out = zone.to_master_file();
    for (i, name) in names.iter().enumerate() {
        let node = zone.node(name).unwrap();
        let next = &names[(i + 1) % names.len()];
        let mut types: Vec<String> = node.rrsets().iter().map(|s| s.rtype().to_string()).collect();
        types.extend(["RRSIG".to_string(), "NSEC".to_string()]);
        out.push_str(&format!("{name} 300 IN NSEC {next} {}\n", types.join(" ")));
        let cut = cuts.contains(name);
        let mut signed: Vec<(String, u32)> = node
            .rrsets()
            .iter()
            .filter(|s| !(cut && s.rtype() == RecordType::NS))
            .map(|s| (s.rtype().to_string(), s.ttl()))
            .collect();
        signed.push(("NSEC".into(), 300));
        let labels = name.iter().filter(|l| *l != b"*").count();
        for (t, ttl) in signed {
            let sig = data_encoding::BASE64.encode(&signature());
            out.push_str(&format!(
                "{name} {ttl} IN RRSIG {t} 13 {labels} {ttl} 20300101000000 20200101000000 12345 {apex} {sig}\n"
            ));
        }
    }
    out
}
