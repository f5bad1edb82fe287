//! A cap on open connections. Each accepted connection takes a permit for as long as its
//! service lives (hyper drops it with the connection); over the cap the connection is
//! refused at once, before the TLS handshake costs anything. Without it, anyone who can
//! reach `http-listen` could hold thousands of idle connections (file descriptors and a
//! few KB each): the header read timeout bounds how long each lives, not how many.

use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// Open connections at most (the login page, the UI and an event stream need a handful per
/// browser; a router has file descriptors to spare for this many).
pub const MAX_CONNECTIONS: usize = 256;

/// Refused: every permit is held.
#[derive(Debug, thiserror::Error)]
#[error("{0} connections are open: refusing another")]
pub struct TooManyConnections(pub usize);

/// Wraps a make-service: `call` gives the connection's service a permit, or fails.
#[derive(Clone)]
pub struct ConnLimit<M> {
    inner: M,
    permits: Arc<Semaphore>,
    max: usize,
}

impl<M> ConnLimit<M> {
    pub fn new(inner: M, max: usize) -> Self {
        ConnLimit {
            inner,
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// A connection's service with the permit it holds until the connection ends.
#[derive(Clone)]
pub struct Limited<S> {
    inner: S,
    _permit: Arc<OwnedSemaphorePermit>,
}

impl<M, T> Service<T> for ConnLimit<M>
where
    M: Service<T>,
    M::Future: Send + 'static,
    M::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Limited<M::Response>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, target: T) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let max = self.max;
        let fut = self.inner.call(target);
        Box::pin(async move {
            let permit = permit.map_err(|_| TooManyConnections(max))?;
            let inner = fut.await.map_err(Into::into)?;
            Ok(Limited {
                inner,
                _permit: Arc::new(permit),
            })
        })
    }
}

impl<S: Service<R>, R> Service<R> for Limited<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::service_fn;

    #[tokio::test]
    async fn a_connection_over_the_cap_is_refused_until_one_ends() {
        let make = service_fn(|_: ()| async { Ok::<_, Infallible>(()) });
        let mut limit = ConnLimit::new(make, 2);
        let a = limit.call(()).await.expect("first");
        let b = limit.call(()).await.expect("second");
        assert_eq!(limit.open(), 2);
        let refused = limit.call(()).await.err().expect("over the cap");
        assert_eq!(
            refused.to_string(),
            "2 connections are open: refusing another"
        );
        drop(a);
        assert_eq!(limit.open(), 1);
        let c = limit.call(()).await.expect("a permit came back");
        // A clone of a connection's service (hyper clones per request) shares the permit.
        let b2 = b.clone();
        drop(b);
        assert_eq!(limit.open(), 2);
        drop((b2, c));
        assert_eq!(limit.open(), 0);
    }
}
