//! `source.kind = "none"`: no certificates (the API and delivery only).

use super::{SourceContext, SourceSettings, ct::CtSettings};
use crate::config::ConfigError;
use tokio_util::sync::CancellationToken;

pub(super) fn validate(_: &SourceSettings, _: &CtSettings) -> Result<(), ConfigError> {
    Ok(())
}

pub(super) fn target(_: &SourceSettings) -> String {
    String::new()
}

/// Ends at once; dropping the sender tells the pipeline there is no input.
pub(super) async fn run(ctx: SourceContext, _: CancellationToken) {
    drop(ctx);
}
