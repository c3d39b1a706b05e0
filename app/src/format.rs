//! How numbers, dates, sizes and amounts are shown and read back in the views.

use alloy_primitives::{Address, U256};

/// The text with its first letter upper-case ("history" → "History").
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// `1536` → `1.5 KiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Unix seconds → `YYYY-MM-DD HH:MM UTC`.
pub fn datetime(unix: u64) -> String {
    let text = medledger_protocol::identity::format_rfc3339(unix as i64);
    // `YYYY-MM-DDTHH:MM:SSZ`
    format!("{} {} UTC", &text[..10], text.get(11..16).unwrap_or(""))
}

/// A grant's expiry: `never` for the contract's open-ended value (or none), else the date and time.
pub fn expiry(unix: u64) -> String {
    // Anything past year 9999 is an open-ended grant (the app grants uint64's maximum).
    if unix >= 253_402_300_800 {
        "never".into()
    } else {
        datetime(unix)
    }
}

/// Unix seconds → `YYYY-MM-DD`.
pub fn date(unix: u64) -> String {
    medledger_protocol::identity::format_rfc3339(unix as i64)[..10].to_string()
}

/// `YYYY-MM-DD` → unix seconds at the end of that day (UTC), for expiries chosen in a form.
pub fn end_of_day(date: &str) -> Option<u64> {
    if !crate::entry::is_date(date) {
        return None;
    }
    let start = medledger_protocol::identity::parse_rfc3339(&format!("{date}T00:00:00Z"))?;
    u64::try_from(start).ok().map(|s| s + 86_399)
}

/// `0x1234…abcd` for compact lists; the full address stays in the element's title.
pub fn short_address(a: &Address) -> String {
    let full = a.to_checksum(None);
    format!("{}…{}", &full[..6], &full[full.len() - 4..])
}

/// `0x` + the first 8 hex digits of a 32-byte id.
pub fn short_id(id: &[u8]) -> String {
    let hex = alloy_primitives::hex::encode(id);
    format!("0x{}…", &hex[..hex.len().min(8)])
}

const WEI_PER_ETH: u128 = 1_000_000_000_000_000_000;

/// Wei → `1.5 ETH` (up to 6 decimals, trailing zeros dropped).
pub fn ether(wei: U256) -> String {
    let whole = wei / U256::from(WEI_PER_ETH);
    let frac = wei % U256::from(WEI_PER_ETH);
    let frac_micro: u64 = (frac / U256::from(1_000_000_000_000u64)).to::<u64>();
    if frac_micro == 0 {
        format!("{whole} ETH")
    } else {
        let digits = format!("{frac_micro:06}");
        format!("{whole}.{} ETH", digits.trim_end_matches('0'))
    }
}

/// Why an amount typed into a form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a decimal number.
    #[error("write the amount as a number of ETH, e.g. 0.25")]
    NotANumber,
    /// More than 18 decimals.
    #[error("an amount has at most 18 decimals")]
    TooPrecise,
    /// Too large to be real.
    #[error("that amount is too large")]
    TooLarge,
}

/// `"0.25"` ETH → wei, exactly (no floating point).
pub fn parse_ether(text: &str) -> Result<U256, AmountError> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(AmountError::NotANumber);
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(AmountError::NotANumber);
    }
    if frac.len() > 18 {
        return Err(AmountError::TooPrecise);
    }
    if whole.len() > 30 {
        return Err(AmountError::TooLarge);
    }
    let whole: U256 = if whole.is_empty() {
        U256::ZERO
    } else {
        whole.parse().map_err(|_| AmountError::NotANumber)?
    };
    let frac_wei: U256 = if frac.is_empty() {
        U256::ZERO
    } else {
        format!("{frac:0<18}")
            .parse()
            .map_err(|_| AmountError::NotANumber)?
    };
    Ok(whole * U256::from(WEI_PER_ETH) + frac_wei)
}

/// `message` as a clause to put inside a sentence: without its own closing full stop, so that
/// "…failed: {clause}. They are…" does not read "answer.. They".
pub fn clause(message: impl std::fmt::Display) -> String {
    let text = message.to_string();
    text.trim_end().trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_inside_a_sentence_loses_its_own_full_stop() {
        assert_eq!(
            clause("The patient has been asked; try again after they answer."),
            "The patient has been asked; try again after they answer"
        );
        assert_eq!(clause("no wrap"), "no wrap");
        assert_eq!(clause("1.5 ETH"), "1.5 ETH");
    }

    #[test]
    fn sizes_pick_a_unit() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(expiry(u64::MAX), "never");
        assert_eq!(expiry(1_764_028_800), "2025-11-25 00:00 UTC");
        assert_eq!(date(1_764_028_800), "2025-11-25");
        assert_eq!(end_of_day("2025-11-25"), Some(1_764_028_800 + 86_399));
        assert_eq!(end_of_day("2025-02-30"), None);
    }

    #[test]
    fn ether_amounts_parse_exactly_and_print_back() {
        assert_eq!(parse_ether("1"), Ok(U256::from(WEI_PER_ETH)));
        assert_eq!(parse_ether("0.25"), Ok(U256::from(WEI_PER_ETH / 4)));
        assert_eq!(parse_ether(".5"), Ok(U256::from(WEI_PER_ETH / 2)));
        assert_eq!(parse_ether("0.000000000000000001"), Ok(U256::from(1u8)));
        assert_eq!(parse_ether("1e3"), Err(AmountError::NotANumber));
        assert_eq!(parse_ether("-1"), Err(AmountError::NotANumber));
        assert_eq!(parse_ether(""), Err(AmountError::NotANumber));
        assert_eq!(
            parse_ether("0.0000000000000000001"),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(ether(U256::from(WEI_PER_ETH / 4)), "0.25 ETH");
        assert_eq!(ether(U256::from(3 * WEI_PER_ETH)), "3 ETH");
        let back = parse_ether("12.345678").map(ether);
        assert_eq!(back.as_deref(), Ok("12.345678 ETH"));
    }

    #[test]
    fn addresses_shorten_keeping_both_ends() {
        let a: Address = "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1"
            .parse()
            .expect("address");
        assert_eq!(short_address(&a), "0x90F8…c9C1");
    }
}
