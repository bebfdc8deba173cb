//! The hello appliance as a program: the only file that picks a backend.

#[cfg(not(solo5_hvt))]
fn main() -> std::process::ExitCode {
    platform_unix::run(&platform_contract::HELLO)
}

#[cfg(solo5_hvt)]
platform_hvt::manifest!();

#[cfg(solo5_hvt)]
fn main() -> std::process::ExitCode {
    platform_hvt::run(&platform_contract::HELLO)
}
