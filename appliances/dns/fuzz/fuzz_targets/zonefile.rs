//! The master-file parser: arbitrary text into `Zone::parse`. No panic; a zone that
//! parses writes back (`to_master_file`) to text that parses to an equal zone.

#![no_main]

use dns_core::zone::Zone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Zone::parse("example.org", text) {
        Ok(zone) => {
            let written = zone.to_master_file();
            let back = Zone::parse("example.org", &written)
                .unwrap_or_else(|e| panic!("written zone does not parse: {e}\n{written}"));
            assert_eq!(back, zone, "{written}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
