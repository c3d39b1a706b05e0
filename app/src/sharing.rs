//! Who may read what, as the app decides it: the grants a patient gave (as the chain holds them),
//! whom a new record's key is wrapped for, and which categories the sharing form offers first.
//! The browser half asks the chain and the escrow; the choices themselves are made here, so that
//! they are unit-tested natively.

use alloy_primitives::{Address, U256};
use medledger_protocol::contract::Category;

/// One grant as the chain holds it (`activeGrants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Who holds it.
    pub grantee: Address,
    /// The category numbers it covers, in number order.
    pub categories: Vec<u8>,
    /// Whether they may add records in those categories.
    pub can_write: bool,
    /// Unix seconds; uint64's maximum for a grant without an end.
    pub expiry: u64,
}

impl GrantRow {
    /// A grant from the chain's words: its category mask, write flag and expiry.
    pub fn new(grantee: Address, mask: U256, can_write: bool, expiry: u64) -> Self {
        Self {
            grantee,
            categories: categories_of(mask),
            can_write,
            expiry,
        }
    }

    /// Whether the grant lets its holder read `category`.
    pub fn covers(&self, category: u8) -> bool {
        self.categories.contains(&category)
    }
}

/// The category numbers in a mask (bit `c` for category `c`), in number order.
pub fn categories_of(mask: U256) -> Vec<u8> {
    Category::from_mask(mask)
        .iter()
        .map(|c| c.number())
        .collect()
}

/// The category numbers in a mask written as a decimal string (the escrow's grants); none when
/// it is not a number.
pub fn categories_of_decimal(mask: &str) -> Vec<u8> {
    mask.parse::<U256>().map(categories_of).unwrap_or_default()
}

/// The grantees whose grant covers `category`, in the chain's order: the people a new record of
/// that category is wrapped for (once their registered keys are known), so each can open it at
/// once instead of after the patient's next visit.
pub fn covering(grants: &[GrantRow], category: u8) -> Vec<Address> {
    grants
        .iter()
        .filter(|g| g.covers(category))
        .map(|g| g.grantee)
        .collect()
}

/// Everyone a new record's key is wrapped for, each once and in this order: its author, its
/// patient (when someone else writes it), then the grantees. `K` is whatever is wrapped to (a
/// public key); the first key given for an account is the one kept.
pub fn wrap_targets<K>(
    author: (Address, K),
    patient: Option<(Address, K)>,
    grantees: impl IntoIterator<Item = (Address, K)>,
) -> Vec<(Address, K)> {
    let mut out: Vec<(Address, K)> = Vec::new();
    for (who, key) in std::iter::once(author).chain(patient).chain(grantees) {
        if !out.iter().any(|(a, _)| *a == who) {
            out.push((who, key));
        }
    }
    out
}

/// The categories a patient has records in (erased ones aside), in number order: what the
/// sharing form offers first, until the patient chooses. `records` gives each record's category
/// and whether it is erased.
pub fn categories_in_use(records: impl IntoIterator<Item = (u8, bool)>) -> Vec<u8> {
    let mut cats: Vec<u8> = records
        .into_iter()
        .filter(|(_, erased)| !erased)
        .map(|(c, _)| c)
        .collect();
    cats.sort_unstable();
    cats.dedup();
    cats
}

/// A grant as the patient filled in the sharing form, checked and in the chain's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// Who receives it.
    pub grantee: Address,
    /// The categories it covers, as a mask.
    pub mask: U256,
    /// Whether they may add records too.
    pub can_write: bool,
    /// The last second it holds (uint64's maximum: no end).
    pub expiry: u64,
}

/// What is wrong with a filled-in sharing form, said so the patient can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantFormError {
    /// The grantee is not an address.
    #[error("The grantee must be an account address (0x… 40 hex digits).")]
    Grantee,
    /// No category is ticked.
    #[error("Choose at least one category.")]
    NoCategory,
    /// The expiry is not a date.
    #[error("The expiry must be a date.")]
    Expiry,
}

impl NewGrant {
    /// Checks the form: `grantee` as typed or picked, the ticked category numbers, the write
    /// box, and the expiry date (`YYYY-MM-DD`, or empty for none).
    pub fn from_form(
        grantee: &str,
        categories: &[u8],
        can_write: bool,
        expiry: &str,
    ) -> Result<Self, GrantFormError> {
        let grantee: Address = grantee
            .trim()
            .parse()
            .map_err(|_| GrantFormError::Grantee)?;
        if categories.is_empty() {
            return Err(GrantFormError::NoCategory);
        }
        let mask = Category::mask(categories.iter().filter_map(|n| Category::from_number(*n)));
        // The contract has no "never": a grant without an end lasts until the last second a
        // uint64 can name, which the views show as "never".
        let expiry = if expiry.is_empty() {
            u64::MAX
        } else {
            crate::format::end_of_day(expiry).ok_or(GrantFormError::Expiry)?
        };
        Ok(Self {
            grantee,
            mask,
            can_write,
            expiry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(cats: &[Category]) -> U256 {
        Category::mask(cats.iter().copied())
    }

    #[test]
    fn a_new_record_is_wrapped_for_the_grantees_whose_grant_covers_its_category() {
        let (a, b, c) = (
            Address::repeat_byte(0xa),
            Address::repeat_byte(0xb),
            Address::repeat_byte(0xc),
        );
        let grants = [
            GrantRow::new(a, mask(&[Category::History, Category::Claims]), false, 0),
            GrantRow::new(b, mask(&[Category::General]), true, u64::MAX),
            GrantRow::new(c, mask(&[Category::Claims]), false, 0),
        ];
        assert_eq!(covering(&grants, Category::Claims.number()), vec![a, c]);
        assert_eq!(covering(&grants, Category::General.number()), vec![b]);
        assert!(covering(&grants, Category::Imaging.number()).is_empty());
        assert_eq!(grants[0].categories, vec![2, 7]);
    }

    #[test]
    fn everyone_is_wrapped_for_once_author_and_patient_first() {
        let (me, patient, doctor) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        // A practitioner writing for a patient who granted them and another doctor.
        let got = wrap_targets(
            (me, 'm'),
            Some((patient, 'p')),
            [(me, 'x'), (doctor, 'd'), (doctor, 'y')],
        );
        assert_eq!(got, vec![(me, 'm'), (patient, 'p'), (doctor, 'd')]);
        // A patient's own record: the patient is the author.
        let got = wrap_targets((patient, 'p'), None, [(doctor, 'd')]);
        assert_eq!(got, vec![(patient, 'p'), (doctor, 'd')]);
    }

    #[test]
    fn the_form_offers_the_categories_in_use_first() {
        assert_eq!(
            categories_in_use([(2, false), (0, false), (2, false), (4, true)]),
            vec![0, 2]
        );
        assert!(categories_in_use([(4, true)]).is_empty());
    }

    #[test]
    fn the_sharing_form_is_checked_in_the_order_a_patient_fills_it() {
        let doctor = Address::repeat_byte(0xd);
        let typed = format!("  {doctor}  ");
        let g = NewGrant::from_form(&typed, &[2, 0], true, "").expect("a valid form");
        assert_eq!(g.grantee, doctor);
        assert_eq!(categories_of(g.mask), vec![0, 2]);
        assert!(g.can_write);
        assert_eq!(g.expiry, u64::MAX, "no expiry is no end");
        let dated = NewGrant::from_form(&typed, &[2], false, "2030-01-31").expect("a date");
        assert_eq!(Some(dated.expiry), crate::format::end_of_day("2030-01-31"));
        assert_eq!(
            NewGrant::from_form("Dr Who", &[2], false, ""),
            Err(GrantFormError::Grantee)
        );
        assert_eq!(
            NewGrant::from_form(&typed, &[], false, "soon"),
            Err(GrantFormError::NoCategory)
        );
        assert_eq!(
            NewGrant::from_form(&typed, &[2], false, "soon"),
            Err(GrantFormError::Expiry)
        );
    }

    #[test]
    fn masks_read_as_category_numbers() {
        let m = mask(&[Category::General, Category::Encounters]);
        assert_eq!(categories_of(m), vec![0, 6]);
        assert_eq!(categories_of_decimal(&m.to_string()), vec![0, 6]);
        assert!(categories_of_decimal("not a number").is_empty());
    }
}
