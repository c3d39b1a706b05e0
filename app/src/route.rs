//! The app's pages: one per task, each with its own address in the URL's fragment (`#/sharing`),
//! so the browser's back and forward buttons, reloads and bookmarks land on the page the person
//! was on.
//!
//! Why the fragment and not a path (`/sharing`) with a router crate: the escrow serves the app as
//! static files beside its API (`/api/…`, `/console`, `/health`). A fragment never reaches the
//! server, so an app address can never be mistaken for an API route, the server needs no
//! catch-all, and a reload of any page serves the same `index.html`.

/// A page of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// The patient's records: list, open, erase.
    Records,
    /// The patient adds a file or a structured entry.
    Add,
    /// The patient's grants.
    Sharing,
    /// Who accessed the patient's records, verified on chain.
    Log,
    /// Insurance claims (every role has its own view of them).
    Claims,
    /// Emergency access: the patient's opt-in, or a practitioner's break-glass request.
    Emergency,
    /// The account: its encryption key (every role), and for a patient erasing everything.
    Account,
    /// A practitioner's patients and their records.
    Patients,
    /// An insurer's coverage policy.
    Policy,
}

/// Who the pages are for; each has its own set and its own home (the first page of its set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A registered patient.
    Patient,
    /// A verified practitioner.
    Practitioner,
    /// A verified insurer.
    Insurer,
}

const PATIENT_PAGES: &[Page] = &[
    Page::Records,
    Page::Add,
    Page::Sharing,
    Page::Log,
    Page::Claims,
    Page::Emergency,
    Page::Account,
];
const PRACTITIONER_PAGES: &[Page] = &[Page::Patients, Page::Emergency, Page::Claims, Page::Account];
const INSURER_PAGES: &[Page] = &[Page::Claims, Page::Policy, Page::Account];

impl Audience {
    /// The pages in the order the navigation shows them; the first is the home.
    pub fn pages(self) -> &'static [Page] {
        match self {
            Audience::Patient => PATIENT_PAGES,
            Audience::Practitioner => PRACTITIONER_PAGES,
            Audience::Insurer => INSURER_PAGES,
        }
    }

    /// Where this audience starts.
    pub fn home(self) -> Page {
        self.pages()[0]
    }

    /// The page a location fragment names for this audience: its home when the fragment is empty,
    /// unknown or names another audience's page (a link shared between roles lands somewhere
    /// sensible rather than on nothing).
    pub fn resolve(self, fragment: &str) -> Page {
        Page::from_fragment(fragment)
            .filter(|p| self.pages().contains(p))
            .unwrap_or_else(|| self.home())
    }
}

impl Page {
    /// Every page, for parsing.
    const ALL: [Page; 9] = [
        Page::Records,
        Page::Add,
        Page::Sharing,
        Page::Log,
        Page::Claims,
        Page::Emergency,
        Page::Account,
        Page::Patients,
        Page::Policy,
    ];

    /// The path segment after `#/`.
    pub fn slug(self) -> &'static str {
        match self {
            Page::Records => "records",
            Page::Add => "add",
            Page::Sharing => "sharing",
            Page::Log => "access-log",
            Page::Claims => "claims",
            Page::Emergency => "emergency",
            Page::Account => "account",
            Page::Patients => "patients",
            Page::Policy => "policy",
        }
    }

    /// The link's address, e.g. `#/sharing`.
    pub fn href(self) -> String {
        format!("#/{}", self.slug())
    }

    /// The navigation's label and the document title's first part.
    pub fn label(self) -> &'static str {
        match self {
            Page::Records => "Records",
            Page::Add => "Add a record",
            Page::Sharing => "Sharing",
            Page::Log => "Access log",
            Page::Claims => "Claims",
            Page::Emergency => "Emergency access",
            Page::Account => "Account",
            Page::Patients => "Patients",
            Page::Policy => "Coverage policy",
        }
    }

    /// The page a location fragment (`#/sharing`, `#sharing`, `#/sharing?x`, or empty) names.
    pub fn from_fragment(fragment: &str) -> Option<Page> {
        let slug = fragment.trim_start_matches('#').trim_start_matches('/');
        let slug = slug.split(['?', '/']).next().unwrap_or("");
        Page::ALL.into_iter().find(|p| p.slug() == slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_round_trips_through_its_address() {
        for page in Page::ALL {
            assert_eq!(Page::from_fragment(&page.href()), Some(page));
        }
        assert_eq!(Page::from_fragment("#sharing"), Some(Page::Sharing));
        assert_eq!(
            Page::from_fragment("#/sharing?from=mail"),
            Some(Page::Sharing)
        );
        assert_eq!(Page::from_fragment(""), None);
        assert_eq!(Page::from_fragment("#/nowhere"), None);
    }

    #[test]
    fn each_audience_lands_on_its_own_pages_only() {
        assert_eq!(Audience::Patient.resolve(""), Page::Records);
        assert_eq!(Audience::Patient.resolve("#/access-log"), Page::Log);
        // A practitioner's page named in a patient's address bar: the patient's home instead.
        assert_eq!(Audience::Patient.resolve("#/patients"), Page::Records);
        assert_eq!(Audience::Practitioner.resolve("#/account"), Page::Account);
        assert_eq!(Audience::Practitioner.resolve("#/sharing"), Page::Patients);
        assert_eq!(Audience::Insurer.resolve("#/account"), Page::Account);
        assert_eq!(Audience::Practitioner.resolve("#/claims"), Page::Claims);
        assert_eq!(Audience::Insurer.resolve("#/policy"), Page::Policy);
        assert_eq!(Audience::Insurer.resolve("#/garbage"), Page::Claims);
    }

    #[test]
    fn slugs_and_labels_are_distinct() {
        let mut slugs: Vec<_> = Page::ALL.iter().map(|p| p.slug()).collect();
        let mut labels: Vec<_> = Page::ALL.iter().map(|p| p.label()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(slugs.len(), Page::ALL.len());
        assert_eq!(labels.len(), Page::ALL.len());
    }
}
