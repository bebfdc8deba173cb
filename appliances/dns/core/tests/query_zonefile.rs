//! Master-file parsing and writing: every supported type, the refusals with their
//! line numbers, and the text written back after an UPDATE reading back equal.

use dns_core::zone::{Zone, Zones};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const EXAMPLE: &str = include_str!("data/example.org");

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn example() -> Zone {
    Zone::parse("example.org", EXAMPLE).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn parses_every_type() {
    let z = example();
    assert_eq!(z.origin(), &name("example.org."));
    assert_eq!(z.serial(), 2024010101);
    let (soa, ttl) = z.soa().unwrap();
    assert_eq!((soa.minimum, ttl), (300, 3600));
    assert_eq!(soa.mname, name("ns1.example.org."));
    for (owner, t) in [
        ("example.org.", RecordType::NS),
        ("example.org.", RecordType::CAA),
        ("example.org.", RecordType::HTTPS),
        ("svc.example.org.", RecordType::SVCB),
        ("_443._tcp.web.example.org.", RecordType::TLSA),
        ("host.deep.example.org.", RecordType::SSHFP),
        ("sub.example.org.", RecordType::DS),
        ("key.example.org.", RecordType::DNSKEY),
        ("key.example.org.", RecordType::RRSIG),
        ("key.example.org.", RecordType::NSEC),
        ("unk.example.org.", RecordType::Unknown(65280)),
        ("srv.example.org.", RecordType::SRV),
    ] {
        assert!(z.rrset(&name(owner), t).is_some(), "{owner} {t}");
    }
    assert_eq!(z.rrset(&name("big.example.org."), RecordType::TXT).unwrap().rdatas().len(), 10);
    // relative names in rdata are completed with the origin
    let mx = z.rrset(&name("example.org."), RecordType::MX).unwrap();
    match &mx.rdatas()[0] {
        RData::MX(mx) => assert_eq!(mx.exchange, name("mail.example.org.")),
        other => panic!("{other:?}"),
    }
    // case preserved in the owner, lookups case-insensitive
    let node = z.node(&name("mixed.case.EXAMPLE.org.")).unwrap();
    assert_eq!(node.name().to_string(), "Mixed.Case.example.org.");
    // empty non-terminals exist, their neighbours do not
    assert!(z.name_exists(&name("b.c.ent.example.org.")));
    assert!(z.name_exists(&name("ent.example.org.")));
    assert!(!z.name_exists(&name("x.ent.example.org.")));
    assert!(!z.name_exists(&name("ent2.example.org.")));
}

#[test]
fn records_soa_first_and_count() {
    let z = example();
    let all = z.records();
    assert_eq!(all[0].record_type(), RecordType::SOA);
    assert_eq!(all.iter().filter(|r| r.record_type() == RecordType::SOA).count(), 1);
    assert_eq!(all.len(), z.len());
}

#[test]
fn master_file_round_trip() {
    let z = example();
    let text = z.to_master_file();
    let back = Zone::parse("example.org", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, z, "{text}");
    // deterministic
    assert_eq!(back.to_master_file(), text);
    // the TXT with quotes and spaces is written readably, not as generic data
    assert!(text.contains("quote.example.org. 3600 IN TXT"), "{text}");
    assert!(text.contains("IN SVCB 1 web.example.org."), "{text}");
}

#[test]
fn round_trip_after_mutation() {
    let mut z = example();
    let rd = RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![
        "a \"quoted\" ; semi".into(),
        "back\\slash".into(),
        String::new(),
    ]));
    assert!(z.add_record(Record::from_rdata(name("New.example.org."), 60, rd.clone())));
    assert!(!z.add_record(Record::from_rdata(name("new.example.org."), 60, rd)));
    assert!(z.set_serial(7));
    assert!(z.remove_rrset(&name("big.example.org."), RecordType::TXT));
    assert!(z.remove_name(&name("svc.example.org.")));
    let text = z.to_master_file();
    let back = Zone::parse("example.org", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, z, "{text}");
    assert_eq!(back.serial(), 7);
    assert_eq!(back.node(&name("new.example.org.")).unwrap().name().to_string(), "New.example.org.");
}

fn err(text: &str) -> String {
    Zone::parse("example.org", text).unwrap_err().to_string()
}

const SOA: &str = "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n";

#[test]
fn refusals_name_file_and_line() {
    assert_eq!(
        err(&format!("{SOA}ns A 192.0.2.1\n$INCLUDE other\n")),
        "example.org:4: $INCLUDE is not supported: each zone is one file"
    );
    assert!(err(&format!("{SOA}www.example.com. A 192.0.2.1\n")).starts_with("example.org:3: "));
    assert!(err(&format!("{SOA}www.example.com. A 192.0.2.1\n")).contains("outside the zone"));
    assert_eq!(err("$TTL 60\nns A 192.0.2.1\n"), "example.org: no SOA record at the zone apex");
    assert!(err(&format!("{SOA}@ SOA ns hm 2 2 3 4 5\n")).starts_with("example.org:3: more than one SOA"));
    assert!(err(&format!("{SOA}w CNAME x\nw A 192.0.2.1\n")).contains("CNAME next to other data"));
    assert!(err(&format!("{SOA}w CNAME x\nw CNAME y\n")).starts_with("example.org:4: more than one CNAME"));
    assert!(err(&format!("{SOA}sub SOA ns hm 1 2 3 4 5\n")).contains("below the zone apex"));
    assert!(err(&format!("{SOA}\n\nw A 300.1.1.1\n")).starts_with("example.org:5: bad A data"));
    assert!(err(&format!("{SOA}w TXT \"open\n")).starts_with("example.org:3: unclosed quoted"));
    assert!(err(&format!("{SOA}w ( A\n 192.0.2.1\n")).starts_with("example.org:3: unclosed '('"));
    assert!(err(&format!("{SOA}w CH A 192.0.2.1\n")).contains("only IN"));
    assert!(err(&format!("{SOA}w BOGUS 1\n")).contains("unknown type"));
    assert!(err(&format!("{SOA}w TYPE999 1\n")).contains("RFC 3597"));
    assert!(err(&format!("{SOA}w TYPE999 \\# 3 0102\n")).contains("length"));
    assert!(err("@ SOA ns hm 1 2 3 4 5\n").contains("no TTL"));
    assert!(err(&format!("{SOA}$GENERATE 1-2 a A 1.2.3.$\n")).contains("unknown directive"));
}

#[test]
fn origin_and_ttl_rules() {
    let z = Zone::parse(
        "Example.ORG",
        "@ 100 SOA ns hm 1 2 3 4 5\nw A 192.0.2.1\n$TTL 50\n$ORIGIN sub.example.org.\nx 1h A 192.0.2.2\ny A 192.0.2.3\n",
    )
    .unwrap();
    assert_eq!(z.rrset(&name("w.example.org."), RecordType::A).unwrap().ttl(), 100);
    assert_eq!(z.rrset(&name("x.sub.example.org."), RecordType::A).unwrap().ttl(), 3600);
    assert_eq!(z.rrset(&name("y.sub.example.org."), RecordType::A).unwrap().ttl(), 50);
}

#[test]
fn catalog_longest_suffix() {
    let mut zones = Zones::new();
    zones.replace(example());
    zones.replace(Zone::parse("sub.example.org", "$TTL 1\n@ SOA ns hm 1 2 3 4 5\n").unwrap());
    assert_eq!(zones.find(&name("a.SUB.example.org.")).unwrap().origin(), &name("sub.example.org."));
    assert_eq!(zones.find(&name("www.example.org.")).unwrap().origin(), &name("example.org."));
    assert!(zones.find(&name("example.com.")).is_none());
    assert!(zones.remove(&name("sub.example.org.")).is_some());
    assert_eq!(zones.find(&name("a.sub.example.org.")).unwrap().origin(), &name("example.org."));
}

/// Found by the `zonefile` fuzz target: a CAA whose hickory decode/encode is not
/// stable made the written file unreadable; records now keep their wire form.
#[test]
fn fuzz_regression_caa_round_trip() {
    let text = include_str!("data/regress-caa-roundtrip");
    if let Ok(z) = Zone::parse("example.org", text) {
        let written = z.to_master_file();
        let back = Zone::parse("example.org", &written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(back, z);
    }
}

/// Found by the `zonefile` fuzz target: a punycode owner was written in Unicode.
#[test]
fn fuzz_regression_punycode_owner() {
    let z = Zone::parse("example.org", "$TTL 1\n@ SOA a b 1 2 3 4 5\nxn--bcher-kva A 192.0.2.1\n").unwrap();
    let written = z.to_master_file();
    assert!(written.contains("xn--bcher-kva.example.org."), "{written}");
    assert_eq!(Zone::parse("example.org", &written).unwrap(), z);
    let text = include_str!("data/regress-idna-owner");
    if let Ok(z) = Zone::parse("example.org", text) {
        let written = z.to_master_file();
        assert_eq!(Zone::parse("example.org", &written).unwrap_or_else(|e| panic!("{e}")), z);
    }
}

/// Arbitrary text never panics the parser.
#[test]
fn garbage_text_is_an_error_not_a_panic() {
    let mut x: u64 = 7;
    let alphabet = b"abc.@$()\";\\ \n\t019*INSOATXTCNAME#-";
    for _ in 0..5000 {
        let len = (x % 200) as usize;
        let text: String = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize] as char
            })
            .collect();
        let _ = Zone::parse("example.org", &format!("$TTL 1\n@ SOA a b 1 2 3 4 5\n{text}"));
    }
}
