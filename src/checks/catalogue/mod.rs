//! Every check impress knows, named by the clause it enforces and quoting it. Each area
//! keeps its checks in its own file with an `ALL` list; [`CATALOGUE`] joins them in report
//! order.

use super::CheckDef;
use std::sync::LazyLock;

/// Declares a [`CheckDef`] static.
macro_rules! check {
    ($name:ident, $id:literal, $spec:literal, $section:literal, $level:ident, $quote:literal) => {
        #[doc = concat!($spec, " §", $section, ": `", $quote, "`")]
        pub static $name: CheckDef = CheckDef {
            id: $id,
            spec: $spec,
            section: $section,
            level: Level::$level,
            quote: $quote,
        };
    };
}

mod base;
mod carbons;
mod forking;
mod muc;
mod offline;
mod sip;
mod sip_proxy;
mod sm;

pub use base::*;
pub use carbons::*;
pub use forking::*;
pub use muc::*;
pub use offline::*;
pub use sip::*;
pub use sip_proxy::*;
pub use sm::*;

/// Every check impress knows, in report order.
pub static CATALOGUE: LazyLock<Vec<&'static CheckDef>> = LazyLock::new(|| {
    [
        ALL_BASE,
        ALL_FORKING,
        ALL_CARBONS,
        ALL_SM,
        ALL_OFFLINE,
        ALL_MUC,
        ALL_SIP,
        ALL_SIP_PROXY,
    ]
    .concat()
});

/// Looks a check up by id.
pub fn find(id: &str) -> Option<&'static CheckDef> {
    CATALOGUE.iter().copied().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_named_by_clause() {
        let mut ids: Vec<_> = CATALOGUE.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        for c in CATALOGUE.iter() {
            assert!(
                c.id.contains(c.section),
                "{} must name section {}",
                c.id,
                c.section
            );
            assert!(!c.quote.is_empty());
        }
    }
}
