//! The CalDAV server as a program: the only file that picks a backend.

#[cfg(not(solo5_hvt))]
fn main() -> std::process::ExitCode {
    platform_unix::run(&caldav::APPLIANCE)
}

// The image's manifest note: must list `APPLIANCE.devices` (checked at boot).
#[cfg(solo5_hvt)]
platform_hvt::manifest!(("service", NetBasic));

#[cfg(solo5_hvt)]
fn main() -> std::process::ExitCode {
    platform_hvt::run(&caldav::APPLIANCE)
}
