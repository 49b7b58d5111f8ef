//! The accept loop both local HTTP servers run: a loopback listener served on a runtime of its own
//! thread, each connection on its own task, until the shutdown signal.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// Serves `listener` (already non-blocking) on a new thread named `name`; `connection` is spawned for
/// each accepted stream. Sending on (or dropping) the returned sender stops the loop; dropping the
/// runtime then cancels every connection task, which closes their sockets.
pub(crate) fn serve<F, Fut>(
    listener: std::net::TcpListener,
    name: &str,
    connection: F,
) -> std::io::Result<(oneshot::Sender<()>, JoinHandle<()>)>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name(name).enable_all().build()?;
    let (shutdown, mut stop) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("register listener");
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(connection(stream));
                    }
                }
            }
        });
    })?;
    Ok((shutdown, thread))
}
