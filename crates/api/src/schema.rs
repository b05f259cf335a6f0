//! Schemas the derive attributes cannot say on their own (behind the
//! `openapi` feature): the change-kind enum made from [`ChangeKind`]'s own
//! names, lists whose items carry constraints, and the patterns shared by
//! several fields. Why: the OpenAPI document is the API's contract, and
//! every constraint the server enforces is declared in it from these
//! types, not written a second time by hand in the handlers' annotations.

use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};

use crate::ChangeKind;

/// Most service globs in one freeze exception.
pub const MAX_GLOBS: usize = 100;
/// Longest service glob, service id or name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// A text that is not only white space (the server trims it). Patterns
/// in derive attributes must be literals; those repeat this one.
pub const NOT_BLANK: &str = r"\S";
/// Every change kind, in the order the gate lists them.
const KINDS: [ChangeKind; 3] = [ChangeKind::Release, ChangeKind::Config, ChangeKind::Ops];

/// A change kind: the enum of [`ChangeKind`]'s names.
pub fn change_kind() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(KINDS.map(ChangeKind::as_str)))
        .description(Some("Kind of change: release, config or ops"))
        .build()
}

/// A non-empty list of change kinds.
pub fn change_kinds() -> Array {
    ArrayBuilder::new()
        .items(change_kind())
        .min_items(Some(1))
        .build()
}

/// A freeze exception's service globs: 1 to [`MAX_GLOBS`], each 1 to
/// [`MAX_NAME_CHARS`] characters.
pub fn service_globs() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_NAME_CHARS))
                .pattern(Some(NOT_BLANK)),
        )
        .min_items(Some(1))
        .max_items(Some(MAX_GLOBS))
        .build()
}
