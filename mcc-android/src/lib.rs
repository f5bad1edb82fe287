//! The Android node of mcc: the native side of the Java class `io.mcc.Mcc`
//! (`java/io/mcc/Mcc.java`) for a `VpnService` app. The app hands over the TUN descriptor
//! from `VpnService.establish()` and a `Protector` (`VpnService.protect(int)`); the node runs
//! the mcc-std event loop on its own thread. Every native entry point catches panics and
//! turns every error into an `io.mcc.MccException`: nothing here may take the VM down.

pub mod node;
pub mod tun;

use jni::errors::ErrorPolicy;
use jni::objects::{JClass, JObject, JString};
use jni::strings::JNIString;
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned, JValue, jni_sig, jni_str};
use mcc_std::control::Request;
use node::RunningNode;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a native call failed: becomes the message of an `io.mcc.MccException`.
#[derive(Debug)]
pub struct MccError(pub String);

impl std::fmt::Display for MccError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MccError {}

impl From<jni::errors::Error> for MccError {
    fn from(e: jni::errors::Error) -> Self {
        MccError(format!("JNI: {e}"))
    }
}

impl From<String> for MccError {
    fn from(s: String) -> Self {
        MccError(s)
    }
}

/// Throws `io.mcc.MccException` for an error or a panic and returns the default value.
struct ThrowMccException;

const EXCEPTION_CLASS: &jni::strings::JNIStr = jni_str!("io/mcc/MccException");

fn throw(env: &mut Env<'_>, msg: &str) {
    if env.exception_check() {
        // A pending Java exception (e.g. thrown by the Protector) is replaced by ours,
        // whose message says what the node was doing.
        env.exception_clear();
    }
    if env
        .throw_new(EXCEPTION_CLASS, JNIString::from(msg))
        .is_err()
        && !env.exception_check()
    {
        // MccException is missing from the class path: still raise something.
        let _ = env.throw_new(jni_str!("java/lang/RuntimeException"), JNIString::from(msg));
    }
}

impl<T: Default> ErrorPolicy<T, MccError> for ThrowMccException {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: MccError,
    ) -> jni::errors::Result<T> {
        throw(env, &err.0);
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let what = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".into()
        };
        // Dropping a payload may itself panic: leak it rather than risk that.
        std::mem::forget(payload);
        throw(env, &format!("internal error (panic in mcc): {what}"));
        Ok(T::default())
    }
}

/// A running node; `None` once stopped.
type Slot = Arc<Mutex<Option<RunningNode>>>;

/// Running nodes by handle. A handle is never reused, so a stale one is an error, not a
/// use-after-free.
static NODES: Mutex<BTreeMap<jlong, Slot>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicI64 = AtomicI64::new(1);

fn nodes() -> std::sync::MutexGuard<'static, BTreeMap<jlong, Slot>> {
    NODES.lock().unwrap_or_else(|p| p.into_inner())
}

fn lookup(handle: jlong) -> Result<Slot, MccError> {
    nodes()
        .get(&handle)
        .cloned()
        .ok_or_else(|| MccError(format!("handle {handle}: no such node (stopped already?)")))
}

fn string_arg(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<String, MccError> {
    if s.is_null() {
        return Err(MccError(format!("{what}: null")));
    }
    Ok(s.try_to_string(env)?)
}

fn request(handle: jlong, req: Request) -> Result<String, MccError> {
    let node = lookup(handle)?;
    let guard = node.lock().unwrap_or_else(|p| p.into_inner());
    let n = guard
        .as_ref()
        .ok_or_else(|| MccError(format!("handle {handle}: stopped")))?;
    Ok(n.request(req)?)
}

/// `static native long start(String configDir, int tunFd, Protector protector)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_start<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    config_dir: JString<'local>,
    tun_fd: jint,
    protector: JObject<'local>,
) -> jlong {
    unowned_env
        .with_env(|env| -> Result<jlong, MccError> {
            let dir = match string_arg(env, &config_dir, "configDir") {
                Ok(d) => PathBuf::from(d),
                Err(e) => {
                    close_fd(tun_fd);
                    return Err(e);
                }
            };
            if protector.is_null() {
                close_fd(tun_fd);
                return Err(MccError("protector: null".into()));
            }
            let running = node::start(&dir, tun_fd, |fd| {
                let r = env.call_method(
                    &protector,
                    jni_str!("protect"),
                    jni_sig!("(I)Z"),
                    &[JValue::Int(fd)],
                );
                match r.and_then(|v| v.z()) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!(
                        "Protector.protect({fd}) returned false: the node's UDP socket would \
                         loop through the VPN (is the VpnService prepared and running?)"
                    )),
                    Err(e) => {
                        let detail = match env.exception_occurred() {
                            Some(t) => {
                                env.exception_clear();
                                let what = env
                                    .call_method(
                                        &t,
                                        jni_str!("toString"),
                                        jni_sig!("()Ljava/lang/String;"),
                                        &[],
                                    )
                                    .and_then(|v| v.l())
                                    .map(|o| {
                                        let s = JString::cast_local(env, o)
                                            .and_then(|s| s.try_to_string(env));
                                        s.unwrap_or_else(|_| "?".into())
                                    });
                                env.exception_clear();
                                format!("it threw {}", what.unwrap_or_else(|_| "?".into()))
                            }
                            None => e.to_string(),
                        };
                        Err(format!("Protector.protect({fd}) failed: {detail}"))
                    }
                }
            })?;
            let handle = NEXT.fetch_add(1, Ordering::Relaxed);
            nodes().insert(handle, Arc::new(Mutex::new(Some(running))));
            Ok(handle)
        })
        .resolve::<ThrowMccException>()
}

fn close_fd(fd: jint) {
    if fd >= 0 {
        // SAFETY: the caller handed this descriptor over to us.
        unsafe { libc::close(fd) };
    }
}

/// `static native void stop(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_stop<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    unowned_env
        .with_env(|_env| -> Result<(), MccError> {
            let node = nodes().remove(&handle).ok_or_else(|| {
                MccError(format!("handle {handle}: no such node (stopped already?)"))
            })?;
            let running = node.lock().unwrap_or_else(|p| p.into_inner()).take();
            match running {
                Some(r) => Ok(r.stop()?),
                None => Ok(()),
            }
        })
        .resolve::<ThrowMccException>()
}

fn string_result<'local>(
    env: &mut Env<'local>,
    r: Result<String, MccError>,
) -> Result<JString<'local>, MccError> {
    let s = r?;
    Ok(JString::from_str(env, s)?)
}

/// `static native String status(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_status<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> JString<'local> {
    unowned_env
        .with_env(|env| string_result(env, request(handle, Request::Status)))
        .resolve::<ThrowMccException>()
}

/// `static native String nodes(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_nodes<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> JString<'local> {
    unowned_env
        .with_env(|env| string_result(env, request(handle, Request::Nodes)))
        .resolve::<ThrowMccException>()
}

/// `static native String resolve(long handle, String address, String target)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_resolve<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    address: JString<'local>,
    target: JString<'local>,
) -> JString<'local> {
    unowned_env
        .with_env(|env| {
            let address = string_arg(env, &address, "address")?;
            let target = string_arg(env, &target, "target")?;
            string_result(
                env,
                request(
                    handle,
                    Request::Resolve {
                        address,
                        target,
                        all: false,
                    },
                ),
            )
        })
        .resolve::<ThrowMccException>()
}

/// `static native String events(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_events<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> JString<'local> {
    unowned_env
        .with_env(|env| string_result(env, request(handle, Request::Events)))
        .resolve::<ThrowMccException>()
}

/// `static native String createTunnel(long handle, String networkKey, String targets,
/// String remoteNode, String dnsNames)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_createTunnel<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    network_key: JString<'local>,
    targets: JString<'local>,
    remote_node: JString<'local>,
    dns_names: JString<'local>,
) -> JString<'local> {
    unowned_env
        .with_env(|env| {
            let network_key = string_arg(env, &network_key, "networkKey")?;
            let targets = string_arg(env, &targets, "targets")?;
            let remote_node = string_arg(env, &remote_node, "remoteNode")?;
            let dns_names = string_arg(env, &dns_names, "dnsNames")?
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect();
            let req = Request::CreateTunnel {
                network_key,
                targets,
                remote_node,
                dns_names,
            };
            string_result(env, request(handle, req))
        })
        .resolve::<ThrowMccException>()
}

/// `static native int openTun(String name)`: Linux host tests only.
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_openTun<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    name: JString<'local>,
) -> jint {
    unowned_env
        .with_env(|env| -> Result<jint, MccError> {
            let name = string_arg(env, &name, "name")?;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                let fd = tun::open_tun(&name).map_err(|e| MccError(e.to_string()))?;
                Ok(std::os::fd::IntoRawFd::into_raw_fd(fd))
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                Err(MccError(format!("openTun({name}): Linux only")))
            }
        })
        .resolve::<ThrowMccException>()
}

/// `static native void markForTest(int fd, int mark)`: Linux host tests only. Sets the
/// socket's firewall mark, as Android's `VpnService.protect` has netd do (its
/// protected-from-VPN bit), so a test can route marked sockets around the TUN device.
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_markForTest<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
    fd: jint,
    mark: jint,
) {
    unowned_env
        .with_env(|_env| -> Result<(), MccError> {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                let mark = mark as u32;
                // SAFETY: setsockopt reads one u32 that outlives the call; a bad fd is an
                // error, not undefined behaviour.
                let r = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_MARK,
                        (&mark as *const u32).cast(),
                        std::mem::size_of::<u32>() as libc::socklen_t,
                    )
                };
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    return Err(MccError(format!("SO_MARK {mark:#x} on fd {fd}: {e}")));
                }
                Ok(())
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                Err(MccError(format!("markForTest({fd}, {mark}): Linux only")))
            }
        })
        .resolve::<ThrowMccException>()
}

/// `static native void panicForTest()`: proves a Rust panic becomes an MccException.
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_mcc_Mcc_panicForTest<'local>(
    mut unowned_env: EnvUnowned<'local>,
    _class: JClass<'local>,
) {
    unowned_env
        .with_env(|_env| -> Result<(), MccError> { panic!("test panic") })
        .resolve::<ThrowMccException>()
}
