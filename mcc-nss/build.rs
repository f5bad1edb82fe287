//! Sets the soname glibc's NSS loader asks for: it dlopens `libnss_mcc.so.2` for a service
//! named `mcc` in nsswitch.conf (the `.2` is the NSS interface version of glibc 2.x).
//! Cargo names the file `libnss_mcc.so`; it is installed under the soname (README.md).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_mcc.so.2");
    }
}
