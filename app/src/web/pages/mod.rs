//! One module per page. [`app::App`] is the root: it walks the user through wallet, network,
//! sign-in, the licence agreement and onboarding, then shows the page for their role.

pub mod agreement;
pub mod app;
pub mod claims;
pub mod clinical;
pub mod doctor;
pub mod holds;
pub mod insurer;
pub mod key;
pub mod licence;
pub mod onboarding;
pub mod patient;
pub mod recovery;
