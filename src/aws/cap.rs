//! The answer cap: no answer over `ANSWER_CAP` is ever held, whatever the endpoint sends or declares,
//! and a successful answer with an empty body is refused.

use std::pin::Pin;
use std::task::Poll;

use aws_sdk_cloudtrail::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
};
use aws_sdk_cloudtrail::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use hyper::body::{Body, Bytes, Frame, SizeHint};

/// The largest answer accepted. A page holds at most 50 events of at most a few hundred KiB each (in
/// practice a page is well under 1 MiB), so this is far above any real answer and still bounds the
/// memory an endpoint can make ctlookup take.
pub const ANSWER_CAP: u64 = 32 << 20;
pub const ANSWER_CAP_TEXT: &str = "32 MiB";

/// The size cap on answers. The SDK reads a whole non-streaming answer into memory (`read_body` of
/// aws-smithy-runtime collects the body) before it deserializes it, after the interceptors'
/// `modify_before_deserialization` hook. This interceptor uses that hook: an answer whose
/// Content-Length says it is over the cap is refused there, before a byte of its body is read, and any
/// other body is wrapped in `CappedBody`, which fails the read as soon as the bytes received pass the
/// cap. So at most `ANSWER_CAP` bytes (plus one frame) are ever held, whatever the endpoint sends or
/// declares; the failed read drops the connection.
///
/// It also refuses a successful answer with an empty body, which the SDK would take for a page of no
/// events and the end of the lookup.
#[derive(Debug)]
pub struct AnswerCap;

impl Intercept for AnswerCap {
    fn name(&self) -> &'static str {
        "ctlookup::AnswerCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response_mut();
        let declared = response.headers().get("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > ANSWER_CAP) {
            return Err(Box::new(TooLarge { declared: Some(length) }));
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() = SdkBody::from_body_1_x(CappedBody { inner: Box::pin(body), left: ANSWER_CAP });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        let empty = response.body().bytes().is_some_and(|b| b.iter().all(u8::is_ascii_whitespace));
        if response.status().is_success() && empty {
            return Err("an empty answer".into());
        }
        Ok(())
    }
}

/// An answer body that fails once more than `left` bytes came.
struct CappedBody {
    inner: Pin<Box<SdkBody>>,
    left: u64,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let size = frame.data_ref().map_or(0, |data| data.len() as u64);
            if size > self.left {
                return Poll::Ready(Some(Err(Box::new(TooLarge { declared: None }))));
            }
            self.left -= size;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer over `ANSWER_CAP`; `declared` is its Content-Length when that said so.
#[derive(Debug)]
pub struct TooLarge {
    pub declared: Option<u64>,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "answer over {ANSWER_CAP_TEXT}")
    }
}

impl std::error::Error for TooLarge {}

pub fn too_large<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TooLarge> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<TooLarge>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
