//! Serial number arithmetic (RFC 1982), for SOA serials: a leaf module shared by
//! UPDATE, transfers and secondary mode.

/// RFC 1982 §3.2: whether serial `a` is greater than `b`. Two serials exactly
/// 2^31 apart are not comparable; this says "not greater" for them, as NSD does.
pub fn gt(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}
