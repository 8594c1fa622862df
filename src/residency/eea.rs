//! The European Economic Area, and the countries with an EU adequacy decision.
//!
//! This is the one place these lists live. The EEA is the 27 EU member states plus Iceland,
//! Liechtenstein and Norway. The United Kingdom (GB) and Switzerland (CH) are **not** in the EEA.

use bitatlas_adapters::catalog::COUNTRY_EU;

/// The 27 EU member states (ISO 3166-1 alpha-2).
pub const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// EEA members that are not in the EU.
pub const EEA_NON_EU: [&str; 3] = ["IS", "LI", "NO"];

/// Countries (or territories) with a full EU adequacy decision under GDPR Art. 45.
///
/// Used only by the opt-in `allow_adequacy` policy setting. Partial decisions (Canada:
/// commercial organisations under PIPEDA; United States: certified organisations under the
/// EU-US Data Privacy Framework) are deliberately left out because they depend on who the
/// recipient is, not on where the bytes are.
/// Source: <https://commission.europa.eu/law/law-topic/data-protection/international-dimension-data-protection/adequacy-decisions_en>
pub const ADEQUACY: [&str; 12] = [
    "AD", "AR", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ",
];

/// Whether `cc` is an EU member state. Exact match, upper case only.
pub fn is_eu(cc: &str) -> bool {
    EU_MEMBERS.contains(&cc)
}

/// Whether `cc` is in the EEA. `EU` (the catalog's "somewhere in the EU") counts as EEA.
pub fn is_eea(cc: &str) -> bool {
    cc == COUNTRY_EU || is_eu(cc) || EEA_NON_EU.contains(&cc)
}

/// Whether `cc` has a full EU adequacy decision (and is not itself in the EEA).
pub fn has_adequacy(cc: &str) -> bool {
    ADEQUACY.contains(&cc)
}

/// Every EEA country code (30).
pub fn eea_countries() -> impl Iterator<Item = &'static str> {
    EU_MEMBERS.iter().chain(EEA_NON_EU.iter()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eea_has_thirty_members_and_excludes_gb_ch() {
        assert_eq!(eea_countries().count(), 30);
        assert!(is_eea("NO") && is_eea("IS") && is_eea("LI") && is_eea("FR"));
        assert!(!is_eea("GB") && !is_eea("CH") && !is_eea("US") && !is_eea("fr"));
        assert!(!is_eea("") && !is_eea("ZZ"));
        assert!(ADEQUACY.iter().all(|c| !is_eea(c)));
    }
}
