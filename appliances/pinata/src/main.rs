//! The Piñata as a program: the only file that picks a backend.

#[cfg(not(solo5_hvt))]
fn main() -> std::process::ExitCode {
    platform_unix::run(&pinata::APPLIANCE)
}
