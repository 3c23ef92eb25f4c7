//! The federal prohibitors: 18 U.S.C. 922(g)(1)-(9) and 922(n). They are
//! law in every state, so they live in code, not in the catalogue; a
//! permit type's state disqualifiers add to them and may not reuse their
//! codes.

use serde::Serialize;

/// A federal reason a person may not receive or possess a firearm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum FederalProhibitor {
    /// 922(g)(1): convicted of a crime punishable by more than a year.
    Felony,
    /// 922(g)(2): a fugitive from justice.
    Fugitive,
    /// 922(g)(3): an unlawful user of or addicted to a controlled substance.
    UnlawfulDrugUser,
    /// 922(g)(4): adjudicated a mental defective or committed to a mental
    /// institution.
    MentalAdjudication,
    /// 922(g)(5): an alien unlawfully in the United States, or admitted
    /// under a nonimmigrant visa (with the statute's exceptions).
    IllegalOrNonimmigrantAlien,
    /// 922(g)(6): discharged from the armed forces dishonourably.
    DishonourableDischarge,
    /// 922(g)(7): renounced United States citizenship.
    RenouncedCitizenship,
    /// 922(g)(8): subject to a qualifying protection order.
    ProtectionOrder,
    /// 922(g)(9): convicted of a misdemeanour crime of domestic violence.
    DomesticViolenceMisdemeanour,
    /// 922(n): under indictment for a crime punishable by more than a year
    /// (receipt only).
    UnderIndictment,
}

impl FederalProhibitor {
    pub const ALL: [FederalProhibitor; 10] = [
        FederalProhibitor::Felony,
        FederalProhibitor::Fugitive,
        FederalProhibitor::UnlawfulDrugUser,
        FederalProhibitor::MentalAdjudication,
        FederalProhibitor::IllegalOrNonimmigrantAlien,
        FederalProhibitor::DishonourableDischarge,
        FederalProhibitor::RenouncedCitizenship,
        FederalProhibitor::ProtectionOrder,
        FederalProhibitor::DomesticViolenceMisdemeanour,
        FederalProhibitor::UnderIndictment,
    ];

    /// The stable code (`922g1` … `922g9`, `922n`).
    pub fn code(self) -> &'static str {
        match self {
            FederalProhibitor::Felony => "922g1",
            FederalProhibitor::Fugitive => "922g2",
            FederalProhibitor::UnlawfulDrugUser => "922g3",
            FederalProhibitor::MentalAdjudication => "922g4",
            FederalProhibitor::IllegalOrNonimmigrantAlien => "922g5",
            FederalProhibitor::DishonourableDischarge => "922g6",
            FederalProhibitor::RenouncedCitizenship => "922g7",
            FederalProhibitor::ProtectionOrder => "922g8",
            FederalProhibitor::DomesticViolenceMisdemeanour => "922g9",
            FederalProhibitor::UnderIndictment => "922n",
        }
    }

    /// The citation, as an officer writes it in a decision.
    pub fn citation(self) -> &'static str {
        match self {
            FederalProhibitor::Felony => "18 U.S.C. 922(g)(1)",
            FederalProhibitor::Fugitive => "18 U.S.C. 922(g)(2)",
            FederalProhibitor::UnlawfulDrugUser => "18 U.S.C. 922(g)(3)",
            FederalProhibitor::MentalAdjudication => "18 U.S.C. 922(g)(4)",
            FederalProhibitor::IllegalOrNonimmigrantAlien => "18 U.S.C. 922(g)(5)",
            FederalProhibitor::DishonourableDischarge => "18 U.S.C. 922(g)(6)",
            FederalProhibitor::RenouncedCitizenship => "18 U.S.C. 922(g)(7)",
            FederalProhibitor::ProtectionOrder => "18 U.S.C. 922(g)(8)",
            FederalProhibitor::DomesticViolenceMisdemeanour => "18 U.S.C. 922(g)(9)",
            FederalProhibitor::UnderIndictment => "18 U.S.C. 922(n)",
        }
    }

    /// Plain words.
    pub fn description(self) -> &'static str {
        match self {
            FederalProhibitor::Felony => {
                "Convicted in any court of a crime punishable by imprisonment for more than one year"
            }
            FederalProhibitor::Fugitive => "A fugitive from justice",
            FederalProhibitor::UnlawfulDrugUser => {
                "An unlawful user of, or addicted to, a controlled substance"
            }
            FederalProhibitor::MentalAdjudication => {
                "Adjudicated as a mental defective, or committed to a mental institution"
            }
            FederalProhibitor::IllegalOrNonimmigrantAlien => {
                "An alien illegally or unlawfully in the United States, or admitted under a nonimmigrant visa"
            }
            FederalProhibitor::DishonourableDischarge => {
                "Discharged from the Armed Forces under dishonourable conditions"
            }
            FederalProhibitor::RenouncedCitizenship => {
                "Having been a citizen of the United States, has renounced that citizenship"
            }
            FederalProhibitor::ProtectionOrder => {
                "Subject to a court order restraining harassment, stalking or threatening of an intimate partner or child"
            }
            FederalProhibitor::DomesticViolenceMisdemeanour => {
                "Convicted in any court of a misdemeanour crime of domestic violence"
            }
            FederalProhibitor::UnderIndictment => {
                "Under indictment for a crime punishable by imprisonment for more than one year"
            }
        }
    }

    /// The prohibitor with this code.
    pub fn from_code(code: &str) -> Option<FederalProhibitor> {
        FederalProhibitor::ALL
            .into_iter()
            .find(|p| p.code() == code)
    }

    /// The federal prohibitor a state code would be mistaken for: the same
    /// letters and digits, whatever the case and punctuation (`922(g)(1)`,
    /// `922-G-1`).
    pub fn colliding_with(code: &str) -> Option<FederalProhibitor> {
        let folded: String = code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        FederalProhibitor::from_code(&folded)
    }
}

impl From<FederalProhibitor> for &'static str {
    fn from(p: FederalProhibitor) -> &'static str {
        p.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut codes: Vec<_> = FederalProhibitor::ALL.iter().map(|p| p.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 10);
        for p in FederalProhibitor::ALL {
            assert_eq!(FederalProhibitor::from_code(p.code()), Some(p));
        }
        assert_eq!(FederalProhibitor::from_code("922g10"), None);
    }

    #[test]
    fn collisions_ignore_case_and_punctuation() {
        assert_eq!(
            FederalProhibitor::colliding_with("922(g)(1)"),
            Some(FederalProhibitor::Felony)
        );
        assert_eq!(
            FederalProhibitor::colliding_with("922-N"),
            Some(FederalProhibitor::UnderIndictment)
        );
        assert_eq!(FederalProhibitor::colliding_with("ma-922g1"), None);
    }
}
