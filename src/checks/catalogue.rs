//! (stub) The catalogue.
use super::CheckDef;
/// Every check impress knows.
pub static CATALOGUE: &[CheckDef] = &[];
/// Looks a check up by id.
pub fn find(id: &str) -> Option<&'static CheckDef> {
    CATALOGUE.iter().find(|c| c.id == id)
}
