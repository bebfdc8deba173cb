//! Table tests of the answering algorithm on the test zone: one row per answer type.

use dns_core::query::resolve;
use dns_core::zone::{Zone, Zones};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

fn zones() -> Zones {
    let mut z = Zones::new();
    for (n, t) in [
        ("example.org", include_str!("data/example.org")),
        ("example.net", include_str!("data/example.net")),
        ("child.example.org", include_str!("data/child.example.org")),
    ] {
        z.replace(Zone::parse(n, t).unwrap_or_else(|e| panic!("{e}")));
    }
    z
}

/// "owner type" of each record of each rrset, lower-cased.
fn show(sets: &[Vec<Record>]) -> Vec<String> {
    let mut v: Vec<String> =
        sets.iter().flatten().map(|r| format!("{} {}", r.name.to_lowercase(), r.record_type())).collect();
    v.dedup();
    v
}

struct Row {
    qname: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    aa: bool,
    answer: &'static [&'static str],
    authority: &'static [&'static str],
    additional: &'static [&'static str],
}

const fn row(
    qname: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    aa: bool,
    answer: &'static [&'static str],
    authority: &'static [&'static str],
    additional: &'static [&'static str],
) -> Row {
    Row { qname, qtype, rcode, aa, answer, authority, additional }
}

use RecordType as T;
use ResponseCode as R;
const SOA: &[&str] = &["example.org. SOA"];
const SUB_NS: &[&str] = &["sub.example.org. NS"];

const ROWS: &[Row] = &[
    // exact answers
    row("mail.example.org.", T::A, R::NoError, true, &["mail.example.org. A"], &[], &[]),
    row("example.org.", T::MX, R::NoError, true, &["example.org. MX"], &[], &[]),
    row("example.org.", T::CAA, R::NoError, true, &["example.org. CAA"], &[], &[]),
    row("svc.example.org.", T::SVCB, R::NoError, true, &["svc.example.org. SVCB"], &[], &[]),
    row("example.org.", T::HTTPS, R::NoError, true, &["example.org. HTTPS"], &[], &[]),
    row("_443._tcp.web.example.org.", T::TLSA, R::NoError, true, &["_443._tcp.web.example.org. TLSA"], &[], &[]),
    row("host.deep.example.org.", T::SSHFP, R::NoError, true, &["host.deep.example.org. SSHFP"], &[], &[]),
    // NS at the apex: glue in additional
    row(
        "example.org.",
        T::NS,
        R::NoError,
        true,
        &["example.org. NS"],
        &[],
        &["ns1.example.org. A", "ns1.example.org. AAAA"],
    ),
    // CNAME chain inside the zone, and into another zone we serve
    row(
        "www.example.org.",
        T::A,
        R::NoError,
        true,
        &["www.example.org. CNAME", "web.example.org. CNAME", "host.deep.example.org. A"],
        &[],
        &[],
    ),
    row(
        "tocnet.example.org.",
        T::A,
        R::NoError,
        true,
        &["tocnet.example.org. CNAME", "a.example.net. CNAME", "b.example.net. A"],
        &[],
        &[],
    ),
    row("www.example.org.", T::CNAME, R::NoError, true, &["www.example.org. CNAME"], &[], &[]),
    // a CNAME loop stops when an rrset repeats
    row(
        "loop1.example.org.",
        T::A,
        R::NoError,
        true,
        &["loop1.example.org. CNAME", "loop2.example.org. CNAME"],
        &[],
        &[],
    ),
    // CNAME into another zone we serve is followed there (as NSD does)
    row("ext.example.org.", T::A, R::NoError, true, &["ext.example.org. CNAME", "www.example.net. A"], &[], &[]),
    // wildcards (RFC 4592)
    row("x.wild.example.org.", T::A, R::NoError, true, &["x.wild.example.org. A"], &[], &[]),
    row("a.b.wild.example.org.", T::TXT, R::NoError, true, &["a.b.wild.example.org. TXT"], &[], &[]),
    row("x.wild.example.org.", T::MX, R::NoError, true, &[], SOA, &[]),
    row("exists.wild.example.org.", T::A, R::NoError, true, &[], SOA, &[]),
    row("a.exists.wild.example.org.", T::A, R::NXDomain, true, &[], SOA, &[]),
    row(
        "q.wc.example.org.",
        T::A,
        R::NoError,
        true,
        &["q.wc.example.org. CNAME", "www.example.org. CNAME", "web.example.org. CNAME", "host.deep.example.org. A"],
        &[],
        &[],
    ),
    // empty non-terminals: NODATA, not NXDOMAIN, and no wildcard match under them
    row("ent.example.org.", T::A, R::NoError, true, &[], SOA, &[]),
    row("b.c.ent.example.org.", T::TXT, R::NoError, true, &[], SOA, &[]),
    row("x.ent.example.org.", T::A, R::NXDomain, true, &[], SOA, &[]),
    // delegations: referral, AA off, glue (also below the cut)
    row("www.sub.example.org.", T::A, R::NoError, false, &[], SUB_NS, &["ns.sub.example.org. A"]),
    row("sub.example.org.", T::NS, R::NoError, false, &[], SUB_NS, &["ns.sub.example.org. A"]),
    row("deep.ns.sub.example.org.", T::A, R::NoError, false, &[], SUB_NS, &["ns.sub.example.org. A"]),
    // DS at the cut comes from the parent
    row("sub.example.org.", T::DS, R::NoError, true, &["sub.example.org. DS"], &[], &[]),
    row("child.example.org.", T::DS, R::NoError, true, &["child.example.org. DS"], &[], &[]),
    row("child.example.org.", T::SOA, R::NoError, true, &["child.example.org. SOA"], &[], &[]),
    row("www.child.example.org.", T::A, R::NoError, true, &["www.child.example.org. A"], &[], &[]),
    // NXDOMAIN
    row("nope.example.org.", T::A, R::NXDomain, true, &[], SOA, &[]),
    // ANY: one rrset (RFC 8482)
    row("example.org.", T::ANY, R::NoError, true, &["example.org. SOA"], &[], &[]),
    row("big.example.org.", T::ANY, R::NoError, true, &["big.example.org. A"], &[], &[]),
    // not ours
    row("example.com.", T::A, R::Refused, false, &[], &[], &[]),
];

#[test]
fn answer_table() {
    let zones = zones();
    for r in ROWS {
        let res = resolve(&zones, &Name::from_ascii(r.qname).unwrap(), r.qtype, false);
        let got = (res.rcode, res.aa, show(&res.answer), show(&res.authority), show(&res.additional));
        let want = (
            r.rcode,
            r.aa,
            r.answer.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            r.authority.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            r.additional.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        assert_eq!(got, want, "{} {}", r.qname, r.qtype);
    }
}

#[test]
fn negative_ttl_is_soa_minimum() {
    // RFC 2308 §3: min(SOA TTL 3600, MINIMUM 300)
    let res = resolve(&zones(), &Name::from_ascii("nope.example.org.").unwrap(), T::A, false);
    assert_eq!(res.authority[0][0].ttl, 300);
}

#[test]
fn query_case_kept_in_owner() {
    let zones = zones();
    for q in ["MIXED.case.Example.ORG.", "X.Wild.example.org."] {
        let name = Name::from_ascii(q).unwrap();
        let res = resolve(&zones, &name, T::A, false);
        assert!(res.answer[0][0].name.eq_case(&name), "{q}: {:?}", res.answer);
    }
}

/// A signed zone (apex RRSIG over DNSKEY) asked with DO gets RRSIGs and NSEC denials
/// (RFC 4035 §3.1); without DO, none.
#[test]
fn dnssec_records_with_do() {
    let text = "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n@ DNSKEY 257 3 13 AAAA\n\
        @ RRSIG DNSKEY 13 1 300 20300101000000 20200101000000 1 signed.example. AAAA\n\
        @ RRSIG SOA 13 1 300 20300101000000 20200101000000 1 signed.example. AAAA\n\
        @ NSEC ns SOA NS DNSKEY RRSIG NSEC\n\
        @ RRSIG NSEC 13 1 300 20300101000000 20200101000000 1 signed.example. AAAA\n\
        ns A 192.0.2.1\nns RRSIG A 13 2 300 20300101000000 20200101000000 1 signed.example. AAAA\n\
        ns NSEC signed.example. A RRSIG NSEC\n\
        ns RRSIG NSEC 13 2 300 20300101000000 20200101000000 1 signed.example. AAAA\n";
    let mut zones = Zones::new();
    zones.replace(Zone::parse("signed.example", text).unwrap_or_else(|e| panic!("{e}")));
    let q = Name::from_ascii("ns.signed.example.").unwrap();
    let res = resolve(&zones, &q, T::A, true);
    assert_eq!(show(&res.answer), ["ns.signed.example. A", "ns.signed.example. RRSIG"]);
    assert_eq!(show(&resolve(&zones, &q, T::A, false).answer), ["ns.signed.example. A"]);
    let res = resolve(&zones, &Name::from_ascii("nx.signed.example.").unwrap(), T::A, true);
    assert_eq!(res.rcode, R::NXDomain);
    // ns's NSEC (ns → apex) covers nx; the apex NSEC (apex → ns) covers *.signed.example
    assert_eq!(
        show(&res.authority),
        [
            "ns.signed.example. NSEC",
            "ns.signed.example. RRSIG",
            "signed.example. NSEC",
            "signed.example. RRSIG",
            "signed.example. SOA",
            "signed.example. RRSIG"
        ]
    );
    let res = resolve(&zones, &q, T::MX, true);
    assert_eq!(
        show(&res.authority),
        ["signed.example. SOA", "signed.example. RRSIG", "ns.signed.example. NSEC", "ns.signed.example. RRSIG"]
    );
}
