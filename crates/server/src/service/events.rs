//! Events as the API and the UI both look them up.

use crate::error::ApiError;
use crate::state::AppState;

/// The event with this slug, or 404.
pub async fn find(state: &AppState, slug: &str) -> Result<seawall_store::Event, ApiError> {
    state
        .store
        .event(slug)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("event `{slug}`")))
}
