//! The USPS Publication 28 tables Plaza standardises with: street suffixes
//! (appendix C1), secondary unit designators (C2), directionals, and state
//! and territory names (appendix B).
//!
//! Each table line is the standard abbreviation followed by every spelling
//! that maps to it; the abbreviation itself is always accepted.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Street suffixes: standard abbreviation, then the spelled-out name and
/// the common and variant spellings.
const SUFFIXES: &str = "\
ALY ALLEY ALLEE ALLY
ANX ANEX ANNEX ANNX
ARC ARCADE
AVE AVENUE AV AVEN AVENU AVN AVNUE
BYU BAYOU BAYOO
BCH BEACH
BND BEND
BLF BLUFF BLUF
BLFS BLUFFS
BTM BOTTOM BOT BOTTM
BLVD BOULEVARD BOUL BOULV
BR BRANCH BRNCH
BRG BRIDGE BRDGE
BRK BROOK
BRKS BROOKS
BG BURG
BGS BURGS
BYP BYPASS BYPA BYPAS BYPS
CP CAMP CMP
CYN CANYON CANYN CNYN
CPE CAPE
CSWY CAUSEWAY CAUSWA
CTR CENTER CEN CENT CENTR CENTRE CNTER CNTR
CTRS CENTERS
CIR CIRCLE CIRC CIRCL CRCL CRCLE
CIRS CIRCLES
CLF CLIFF
CLFS CLIFFS
CLB CLUB
CMN COMMON
CMNS COMMONS
COR CORNER
CORS CORNERS
CRSE COURSE
CT COURT
CTS COURTS
CV COVE
CVS COVES
CRK CREEK
CRES CRESCENT CRSENT CRSNT
CRST CREST
XING CROSSING CRSSNG
XRD CROSSROAD
XRDS CROSSROADS
CURV CURVE
DL DALE
DM DAM
DV DIVIDE DIV DVD
DR DRIVE DRIV DRV
DRS DRIVES
EST ESTATE
ESTS ESTATES
EXPY EXPRESSWAY EXP EXPR EXPRESS EXPW
EXT EXTENSION EXTN EXTNSN
EXTS EXTENSIONS
FALL FALL
FLS FALLS
FRY FERRY FRRY
FLD FIELD
FLDS FIELDS
FLT FLAT
FLTS FLATS
FRD FORD
FRDS FORDS
FRST FOREST FORESTS
FRG FORGE FORG
FRGS FORGES
FRK FORK
FRKS FORKS
FT FORT FRT
FWY FREEWAY FREEWY FRWAY FRWY
GDN GARDEN GARDN GRDEN GRDN
GDNS GARDENS GRDNS
GTWY GATEWAY GATEWY GATWAY GTWAY
GLN GLEN
GLNS GLENS
GRN GREEN
GRNS GREENS
GRV GROVE GROV
GRVS GROVES
HBR HARBOR HARB HARBR HRBOR
HBRS HARBORS
HVN HAVEN
HTS HEIGHTS HT
HWY HIGHWAY HIGHWY HIWAY HIWY HWAY
HL HILL
HLS HILLS
HOLW HOLLOW HLLW HOLLOWS HOLWS
INLT INLET
IS ISLAND ISLND
ISS ISLANDS ISLNDS
ISLE ISLE ISLES
JCT JUNCTION JCTION JCTN JUNCTN JUNCTON
JCTS JUNCTIONS JCTNS
KY KEY
KYS KEYS
KNL KNOLL KNOL
KNLS KNOLLS
LK LAKE
LKS LAKES
LAND LAND
LNDG LANDING LNDNG
LN LANE
LGT LIGHT
LGTS LIGHTS
LF LOAF
LCK LOCK
LCKS LOCKS
LDG LODGE LDGE LODG
LOOP LOOP LOOPS
MALL MALL
MNR MANOR
MNRS MANORS
MDW MEADOW
MDWS MEADOWS MEDOWS
MEWS MEWS
ML MILL
MLS MILLS
MSN MISSION MISSN MSSN
MTWY MOTORWAY
MT MOUNT MNT
MTN MOUNTAIN MNTAIN MNTN MOUNTIN MTIN
MTNS MOUNTAINS MNTNS
NCK NECK
ORCH ORCHARD ORCHRD
OVAL OVAL OVL
OPAS OVERPASS
PARK PARK PARKS PRK
PKWY PARKWAY PARKWY PKWAY PKY PARKWAYS PKWYS
PASS PASS
PSGE PASSAGE
PATH PATH PATHS
PIKE PIKE PIKES
PNE PINE
PNES PINES
PL PLACE
PLN PLAIN
PLNS PLAINS
PLZ PLAZA PLZA
PT POINT
PTS POINTS
PRT PORT
PRTS PORTS
PR PRAIRIE PRR
RADL RADIAL RAD RADIEL
RAMP RAMP
RNCH RANCH RANCHES RNCHS
RPD RAPID
RPDS RAPIDS
RST REST
RDG RIDGE RDGE
RDGS RIDGES
RIV RIVER RVR RIVR
RD ROAD
RDS ROADS
RTE ROUTE
ROW ROW
RUE RUE
RUN RUN
SHL SHOAL
SHLS SHOALS
SHR SHORE SHOAR
SHRS SHORES SHOARS
SKWY SKYWAY
SPG SPRING SPNG SPRNG
SPGS SPRINGS SPNGS SPRNGS
SPUR SPUR SPURS
SQ SQUARE SQR SQRE SQU
SQS SQUARES SQRS
STA STATION STATN STN
STRA STRAVENUE STRAV STRAVEN STRAVN STRVN STRVNUE
STRM STREAM STREME
ST STREET STRT STR
STS STREETS
SMT SUMMIT SUMIT SUMITT
TER TERRACE TERR
TRWY THROUGHWAY
TRCE TRACE TRACES
TRAK TRACK TRACKS TRK TRKS
TRFY TRAFFICWAY
TRL TRAIL TRAILS TRLS
TRLR TRAILER TRLRS
TUNL TUNNEL TUNEL TUNLS TUNNELS TUNNL
TPKE TURNPIKE TRNPK TURNPK
UPAS UNDERPASS
UN UNION
UNS UNIONS
VLY VALLEY VALLY VLLY
VLYS VALLEYS
VIA VIADUCT VDCT VIADCT
VW VIEW
VWS VIEWS
VLG VILLAGE VILL VILLAG VILLG VILLIAGE
VLGS VILLAGES
VL VILLE
VIS VISTA VIST VST VSTA
WALK WALK WALKS
WALL WALL
WAY WY
WAYS WAYS
WL WELL
WLS WELLS
";

/// Secondary unit designators that take a unit number, standard first.
const UNITS: &str = "\
APT APARTMENT
BLDG BUILDING
DEPT DEPARTMENT
FL FLOOR
HNGR HANGAR HANGER
KEY KEY
LOT LOT
PIER PIER
RM ROOM
SLIP SLIP
SPC SPACE
STOP STOP
STE SUITE
TRLR TRAILER
UNIT UNIT
";

const DIRECTIONALS: &str = "\
N NORTH
S SOUTH
E EAST
W WEST
NE NORTHEAST
NW NORTHWEST
SE SOUTHEAST
SW SOUTHWEST
";

/// Two-letter codes and names of the states, the District of Columbia,
/// the territories and the armed forces' postal areas.
const STATES: &str = "\
AL ALABAMA
AK ALASKA
AZ ARIZONA
AR ARKANSAS
CA CALIFORNIA
CO COLORADO
CT CONNECTICUT
DE DELAWARE
DC DISTRICT OF COLUMBIA
FL FLORIDA
GA GEORGIA
HI HAWAII
ID IDAHO
IL ILLINOIS
IN INDIANA
IA IOWA
KS KANSAS
KY KENTUCKY
LA LOUISIANA
ME MAINE
MD MARYLAND
MA MASSACHUSETTS
MI MICHIGAN
MN MINNESOTA
MS MISSISSIPPI
MO MISSOURI
MT MONTANA
NE NEBRASKA
NV NEVADA
NH NEW HAMPSHIRE
NJ NEW JERSEY
NM NEW MEXICO
NY NEW YORK
NC NORTH CAROLINA
ND NORTH DAKOTA
OH OHIO
OK OKLAHOMA
OR OREGON
PA PENNSYLVANIA
RI RHODE ISLAND
SC SOUTH CAROLINA
SD SOUTH DAKOTA
TN TENNESSEE
TX TEXAS
UT UTAH
VT VERMONT
VA VIRGINIA
WA WASHINGTON
WV WEST VIRGINIA
WI WISCONSIN
WY WYOMING
AS AMERICAN SAMOA
GU GUAM
MP NORTHERN MARIANA ISLANDS
PR PUERTO RICO
VI VIRGIN ISLANDS
AA ARMED FORCES AMERICAS
AE ARMED FORCES EUROPE
AP ARMED FORCES PACIFIC
";

struct Tables {
    suffix: HashMap<&'static str, &'static str>,
    /// Standard suffix abbreviation to its spelled-out name.
    suffix_name: HashMap<&'static str, &'static str>,
    unit: HashMap<&'static str, &'static str>,
    directional: HashMap<&'static str, &'static str>,
    directional_name: HashMap<&'static str, &'static str>,
    state_code: HashMap<&'static str, &'static str>,
    /// Spelled-out state names (one or more words, space-joined) to codes.
    state_name: HashMap<&'static str, &'static str>,
    state_names: Vec<(&'static str, &'static str)>,
    unit_name: HashMap<&'static str, &'static str>,
}

fn table(text: &'static str) -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    text.lines().filter(|l| !l.is_empty()).map(|l| {
        let mut words = l.split(' ');
        let standard = words
            .next()
            .expect("a table line starts with its abbreviation");
        (standard, words.collect())
    })
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tables {
            suffix: HashMap::new(),
            suffix_name: HashMap::new(),
            unit: HashMap::new(),
            directional: HashMap::new(),
            directional_name: HashMap::new(),
            state_code: HashMap::new(),
            state_name: HashMap::new(),
            state_names: Vec::new(),
            unit_name: HashMap::new(),
        };
        for (std, spellings) in table(SUFFIXES) {
            t.suffix.insert(std, std);
            if let Some(name) = spellings.first() {
                t.suffix_name.insert(std, name);
            }
            for s in spellings {
                t.suffix.insert(s, std);
            }
        }
        for (std, spellings) in table(UNITS) {
            t.unit.insert(std, std);
            t.unit_name.insert(std, spellings[0]);
            for s in spellings {
                t.unit.insert(s, std);
            }
        }
        for (std, spellings) in table(DIRECTIONALS) {
            t.directional.insert(std, std);
            t.directional_name.insert(std, spellings[0]);
            for s in spellings {
                t.directional.insert(s, std);
            }
        }
        for line in STATES.lines().filter(|l| !l.is_empty()) {
            let (code, name) = line.split_once(' ').expect("code and name");
            t.state_code.insert(code, code);
            t.state_name.insert(name, code);
            t.state_names.push((code, name));
        }
        t
    })
}

/// The standard abbreviation of a street suffix in any spelling (upper case).
pub fn suffix(word: &str) -> Option<&'static str> {
    tables().suffix.get(word).copied()
}

/// The spelled-out name of a standard suffix, e.g. `AVE` → `AVENUE`.
pub fn suffix_name(standard: &str) -> Option<&'static str> {
    tables().suffix_name.get(standard).copied()
}

/// Every accepted spelling of a suffix with its standard abbreviation.
pub fn suffix_spellings() -> impl Iterator<Item = (&'static str, &'static str)> {
    table(SUFFIXES).flat_map(|(std, s)| {
        std::iter::once((std, std)).chain(s.into_iter().map(move |w| (w, std)))
    })
}

/// Is this word a standard suffix abbreviation that is not also a word in
/// its own right (so it is unlikely to start a city name)?
pub fn is_abbreviated_suffix(word: &str) -> bool {
    match tables().suffix.get(word) {
        Some(std) => *std == word && suffix_name(std) != Some(word),
        None => false,
    }
}

/// The standard secondary unit designator of a word, e.g. `SUITE` → `STE`.
pub fn unit(word: &str) -> Option<&'static str> {
    tables().unit.get(word).copied()
}

/// The spelled-out name of a unit designator, e.g. `APT` → `APARTMENT`.
pub fn unit_name(standard: &str) -> Option<&'static str> {
    tables().unit_name.get(standard).copied()
}

/// The standard directional of a word, e.g. `NORTHEAST` → `NE`.
pub fn directional(word: &str) -> Option<&'static str> {
    tables().directional.get(word).copied()
}

/// The spelled-out directional, e.g. `NE` → `NORTHEAST`.
pub fn directional_name(standard: &str) -> Option<&'static str> {
    tables().directional_name.get(standard).copied()
}

/// The two-letter code of a state given by its code.
pub fn state_code(word: &str) -> Option<&'static str> {
    tables().state_code.get(word).copied()
}

/// The code of a spelled-out state name (words joined by one space).
pub fn state_by_name(name: &str) -> Option<&'static str> {
    tables().state_name.get(name).copied()
}

/// The spelled-out name of a state code.
pub fn state_name(code: &str) -> Option<&'static str> {
    tables()
        .state_names
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_map_spellings_to_standard_abbreviations() {
        assert_eq!(suffix("AVENUE"), Some("AVE"));
        assert_eq!(suffix("AVNUE"), Some("AVE"));
        assert_eq!(suffix("BOULEVARD"), Some("BLVD"));
        assert_eq!(suffix("ALLEY"), Some("ALY"));
        assert_eq!(suffix("STREET"), Some("ST"));
        assert_eq!(suffix("ST"), Some("ST"));
        assert_eq!(suffix("CROSSING"), Some("XING"));
        assert_eq!(suffix("PARKWAYS"), Some("PKWY"));
        assert_eq!(suffix("MAIN"), None);
        assert_eq!(suffix_name("AVE"), Some("AVENUE"));
        assert_eq!(unit("SUITE"), Some("STE"));
        assert_eq!(unit("HANGAR"), Some("HNGR"));
        assert_eq!(directional("SOUTHWEST"), Some("SW"));
        assert_eq!(state_by_name("NEW YORK"), Some("NY"));
        assert_eq!(state_by_name("PENNSYLVANIA"), Some("PA"));
        assert_eq!(state_code("PA"), Some("PA"));
        assert!(is_abbreviated_suffix("RD"));
        assert!(!is_abbreviated_suffix("PARK"));
        assert!(!is_abbreviated_suffix("SPRING"));
    }

    #[test]
    fn every_standard_abbreviation_is_its_own_standard() {
        for (word, std) in suffix_spellings() {
            assert_eq!(suffix(word), Some(std), "{word}");
            assert_eq!(suffix(std), Some(std), "{std}");
        }
    }
}
