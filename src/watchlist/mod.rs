//! The homograph list: its format ([`Watchlist`], the XSOAR list JSON),
//! where its text comes from ([`ListLoader`]: the bundled example, a file,
//! a URL or an XSOAR list) and the `[watchlist]` settings. It knows nothing
//! of the matcher: `snapshot` turns a list into a compiled matcher.

mod format;
mod loader;
mod settings;

pub(crate) use format::ListError;
pub use format::{BrandEntry, DEFAULT_TENANT, Variant, Variants, Watchlist};
pub(crate) use format::{TENANTS_KEY, valid_tenant_id};
pub use loader::ListLoader;
pub(crate) use loader::{LoadError, XSOAR_LIST_MAX_CHARS, save_xsoar_list};
pub use settings::{WatchlistSettings, XsoarListSettings};

/// The list bundled into the binary: the offline default.
pub(crate) const EXAMPLE_LIST: &str = include_str!("../../lists/example.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_example_list_is_valid() {
        let list = Watchlist::parse(EXAMPLE_LIST, 1 << 20).unwrap();
        assert!(list.brands.len() >= 5);
    }
}
