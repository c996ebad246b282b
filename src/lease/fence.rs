//! The fence on the controllers' client: every request is refused unless this replica's renew
//! deadline is in force. The watchdog ends the process when the deadline passes; the fence covers
//! the moment in between, and a process frozen as a whole (SIGSTOP, a paused VM) that resumes
//! after its deadline: its first request is refused, whichever thread runs first.

use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;

use super::watchdog::Deadline;

/// `client`, refusing every request while `deadline` is passed or closed.
pub fn fenced(client: Client, deadline: Deadline) -> Client {
    let namespace = client.default_namespace().to_string();
    Client::new(
        Fenced {
            inner: client,
            deadline,
        },
        namespace,
    )
}

#[derive(Clone)]
struct Fenced {
    inner: Client,
    deadline: Deadline,
}

impl tower::Service<Request<Body>> for Fenced {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), kube::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if self.deadline.passed() {
            let refused = kube::Error::Service("this replica does not hold the leader lease".into());
            return futures::future::ready(Err(refused)).boxed();
        }
        let inner = self.inner.clone();
        async move { inner.send(request).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;

    use super::*;

    /// A client whose "API server" answers every request with an empty ConfigMap, counting them.
    fn counted_client() -> (Client, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let service = tower::service_fn(move |_: Request<Body>| {
            seen.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
            async move { Ok::<_, std::convert::Infallible>(Response::new(Body::from(body.as_bytes().to_vec()))) }
        });
        (Client::new(service, "default"), calls)
    }

    #[tokio::test]
    async fn requests_pass_only_while_the_deadline_is_in_force() {
        let (inner, calls) = counted_client();
        let deadline = Deadline::closed();
        let api: Api<ConfigMap> = Api::default_namespaced(fenced(inner, deadline.clone()));
        let refused = api.get("x").await;
        assert!(
            matches!(&refused, Err(kube::Error::Service(e)) if e.to_string().contains("leader lease")),
            "{refused:?}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "refused before it left the process"
        );

        deadline.arm(Instant::now() + Duration::from_secs(60));
        assert_eq!(
            api.get("x").await.expect("passes").metadata.name.as_deref(),
            Some("x")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        deadline.arm(Instant::now());
        assert!(api.get("x").await.is_err(), "the deadline passed");
        deadline.close();
        assert!(api.get("x").await.is_err(), "stopped leading");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
