//! First names that stand for each other: a formal name and the short and
//! familiar forms records use for it. A name can belong to several groups
//! (`AL` is Albert, Alfred, Alan and Alexander); two names are nickname
//! matches when they share a group.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Each group: the formal name first, then its other forms.
const GROUPS: &[&[&str]] = &[
    &[
        "WILLIAM", "BILL", "BILLY", "WILL", "WILLIE", "WILLY", "LIAM", "WILSON",
    ],
    &[
        "ROBERT", "BOB", "BOBBY", "ROB", "ROBBIE", "ROBBY", "BERT", "BERTIE",
    ],
    &[
        "RICHARD", "RICK", "RICKY", "RICH", "RICHIE", "DICK", "DICKIE",
    ],
    &["JAMES", "JIM", "JIMMY", "JIMMIE", "JAMIE", "JEM"],
    &["JOHN", "JACK", "JOHNNY", "JOHNNIE", "JON"],
    &["JONATHAN", "JON", "JONNY", "JOHNNY", "NATE"],
    &["MICHAEL", "MIKE", "MIKEY", "MICK", "MICKEY", "MICHEL"],
    &["JOSEPH", "JOE", "JOEY", "JOS"],
    &["THOMAS", "TOM", "TOMMY", "THOM"],
    &["CHARLES", "CHARLIE", "CHUCK", "CHAS", "CHAZ", "CHARLEY"],
    &["CHRISTOPHER", "CHRIS", "KIT", "TOPHER", "CHRISTY"],
    &["DANIEL", "DAN", "DANNY", "DANNIE"],
    &["MATTHEW", "MATT", "MATTY", "MATHEW"],
    &["ANTHONY", "TONY", "ANT", "ANTONIO"],
    &["DONALD", "DON", "DONNIE", "DONNY"],
    &["STEVEN", "STEVE", "STEVIE", "STEPHEN"],
    &["ANDREW", "ANDY", "DREW", "ANDRES"],
    &["JOSHUA", "JOSH"],
    &["KENNETH", "KEN", "KENNY"],
    &["TIMOTHY", "TIM", "TIMMY"],
    &["RONALD", "RON", "RONNIE", "RONNY"],
    &["EDWARD", "ED", "EDDIE", "EDDY", "TED", "TEDDY", "NED"],
    &["EDWIN", "ED", "EDDIE"],
    &["JEFFREY", "JEFF", "GEOFFREY", "GEOFF"],
    &["NICHOLAS", "NICK", "NICKY", "NICO", "COLE"],
    &["LAWRENCE", "LARRY", "LAURENCE", "LAURIE"],
    &["GREGORY", "GREG", "GREGG"],
    &["BENJAMIN", "BEN", "BENNY", "BENJI"],
    &["SAMUEL", "SAM", "SAMMY"],
    &["ALEXANDER", "ALEX", "AL", "XANDER", "SANDY", "ALEC"],
    &["PATRICK", "PAT", "PADDY", "PATTY"],
    &["RAYMOND", "RAY"],
    &["GERALD", "JERRY", "GERRY"],
    &["JEROME", "JERRY"],
    &["HAROLD", "HARRY", "HAL"],
    &["HENRY", "HANK", "HARRY", "HAL"],
    &["ZACHARY", "ZACH", "ZACK", "ZAC"],
    &["PETER", "PETE"],
    &["WALTER", "WALT", "WALLY"],
    &["DOUGLAS", "DOUG"],
    &["FREDERICK", "FRED", "FREDDIE", "FREDDY", "FRITZ"],
    &["ALFRED", "AL", "ALF", "ALFIE", "FRED", "FREDDIE"],
    &["ALBERT", "AL", "BERT", "BERTIE"],
    &["ALAN", "AL", "ALLEN", "ALLAN"],
    &["THEODORE", "TED", "TEDDY", "THEO"],
    &["FRANCIS", "FRANK", "FRANKIE", "FRAN"],
    &["FRANKLIN", "FRANK", "FRANKIE"],
    &["LEONARD", "LEN", "LENNY", "LEO", "LEON"],
    &["PHILIP", "PHIL", "PHILLIP", "PIP"],
    &["RUSSELL", "RUSS", "RUSTY"],
    &["VINCENT", "VINCE", "VINNY", "VINNIE"],
    &["EUGENE", "GENE"],
    &["JOSE", "PEPE", "CHEPE"],
    &["FRANCISCO", "PACO", "PANCHO", "FRANK"],
    &["MANUEL", "MANNY"],
    &["DAVID", "DAVE", "DAVEY", "DAVY"],
    &["GEORGE", "GEORGIE"],
    &["JACOB", "JAKE", "JAKOB"],
    &["NATHAN", "NATE", "NAT"],
    &["NATHANIEL", "NATE", "NAT", "NATHAN"],
    &["ARTHUR", "ART", "ARTIE"],
    &["CLARENCE", "CLARE"],
    &["STANLEY", "STAN"],
    &["BRADLEY", "BRAD"],
    &["GABRIEL", "GABE"],
    &["DOMINIC", "DOM"],
    &["MITCHELL", "MITCH"],
    &[
        "ELIZABETH",
        "LIZ",
        "LIZZIE",
        "LIZZY",
        "BETH",
        "BETTY",
        "BETSY",
        "ELIZA",
        "LISA",
        "LIBBY",
    ],
    &[
        "MARGARET", "PEGGY", "MAGGIE", "MEG", "MARGE", "MARGIE", "GRETA",
    ],
    &[
        "KATHERINE",
        "KATHY",
        "KATE",
        "KATIE",
        "KAY",
        "KAT",
        "KATHRYN",
        "CATHERINE",
    ],
    &["CATHERINE", "CATHY", "CATE", "KATE", "CAT"],
    &["KATHLEEN", "KATHY", "KATHIE", "KATE"],
    &["KATHRYN", "KATHY", "KATE", "KATIE"],
    &["PATRICIA", "PAT", "PATTY", "PATSY", "TRISH", "TRICIA"],
    &["JENNIFER", "JEN", "JENNY", "JENN"],
    &["REBECCA", "BECKY", "BECCA", "BECKIE"],
    &["SUSAN", "SUE", "SUZY", "SUSIE", "SUZIE"],
    &["DEBORAH", "DEBBIE", "DEB", "DEBBY", "DEBRA"],
    &["BARBARA", "BARB", "BABS", "BARBIE"],
    &["DOROTHY", "DOT", "DOTTIE", "DOLLY", "DOT"],
    &["CHRISTINE", "CHRIS", "CHRISSY", "TINA", "CHRISTY"],
    &["CHRISTINA", "TINA", "CHRIS", "CHRISSY"],
    &["SAMANTHA", "SAM", "SAMMY", "SAMMIE"],
    &["VICTORIA", "VICKY", "VICKIE", "TORI"],
    &["ALEXANDRA", "ALEX", "LEXI", "ALEXA", "SANDRA", "SANDY"],
    &["JACQUELINE", "JACKIE", "JACKY"],
    &["JUDITH", "JUDY", "JUDI"],
    &["PAMELA", "PAM"],
    &["CYNTHIA", "CINDY"],
    &["SANDRA", "SANDY"],
    &["ABIGAIL", "ABBY", "ABBIE", "GAIL"],
    &["JESSICA", "JESS", "JESSIE"],
    &["STEPHANIE", "STEPH", "STEFFI"],
    &["KIMBERLY", "KIM", "KIMMY"],
    &["AMANDA", "MANDY", "MANDI"],
    &["MELISSA", "MISSY", "MEL", "LISSA"],
    &["TERESA", "TERRY", "TESS", "TESSA", "TERRI", "THERESA"],
    &["VIRGINIA", "GINNY", "GINGER"],
    &["FRANCES", "FRAN", "FRANNIE", "FRANNY"],
    &["ELEANOR", "ELLIE", "NELL", "NELLIE", "ELLEN"],
    &["JOSEPHINE", "JO", "JOSIE", "JOSEY"],
    &["VALERIE", "VAL"],
    &["ANGELA", "ANGIE"],
    &["NATALIE", "NAT", "NATTIE"],
    &["DANIELA", "DANI", "DANIELLE"],
    &["LILLIAN", "LILY", "LILLY", "LIL"],
    &["FLORENCE", "FLO", "FLOSSIE"],
    &["GABRIELA", "GABY", "GABBY", "GABRIELLE"],
    &["NATASHA", "TASHA"],
    &["ROBERTA", "BOBBIE", "BOBBI", "ROBBIE"],
    &["MARY", "MOLLY", "POLLY", "MAE", "MAMIE"],
    &["ANN", "ANNIE", "ANNA", "ANNE", "NAN", "NANCY"],
    &["HELEN", "NELL", "NELLIE", "ELLIE"],
    &["CAROLINE", "CAROL", "CARRIE", "CARLY"],
    &["CAROLYN", "CAROL", "CARRIE"],
    &["RACHEL", "RAE", "SHELLY"],
    &["MICHELLE", "SHELLY", "MICHELE", "SHELLEY"],
    &["DONNA", "DONNIE"],
    &["JANET", "JAN", "JANIE"],
    &["JANICE", "JAN"],
    &["ALICE", "ALLIE", "ALLY"],
    &["ALLISON", "ALLIE", "ALLY", "ALISON"],
    &["EVELYN", "EVIE", "EVE"],
    &["MARILYN", "MARE", "LYNN"],
    &["BEVERLY", "BEV"],
    &["GLORIA", "GLORY"],
    &["MILDRED", "MILLIE", "MILLY"],
    &["DEBRA", "DEBBIE", "DEB"],
    &["LAUREN", "LAURIE", "LORI"],
];

fn table() -> &'static HashMap<&'static str, Vec<u16>> {
    static TABLE: OnceLock<HashMap<&'static str, Vec<u16>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<u16>> = HashMap::new();
        for (g, names) in GROUPS.iter().enumerate() {
            for name in *names {
                let groups = map.entry(name).or_default();
                if !groups.contains(&(g as u16)) {
                    groups.push(g as u16);
                }
            }
        }
        map
    })
}

/// The groups a normalised first name belongs to (empty for most names).
pub fn groups(name: &str) -> &'static [u16] {
    table().get(name).map_or(&[], Vec::as_slice)
}

/// The formal name of a group.
pub fn formal(group: u16) -> &'static str {
    GROUPS[group as usize][0]
}

/// True when `typed` is one typing mistake away from a name that stands for
/// `name` (`BBO` for `ROBERT`).
pub fn mistyped_nickname(name: &str, typed: &str) -> bool {
    groups(name).iter().any(|&g| {
        GROUPS[g as usize]
            .iter()
            .any(|n| super::similarity::one_edit_apart(n, typed))
    })
}

/// True when the two normalised first names stand for each other.
pub fn are_nicknames(a: &str, b: &str) -> bool {
    let gb = groups(b);
    groups(a).iter().any(|g| gb.contains(g))
}

/// How many pairs (formal name, other form) the table holds.
pub fn pair_count() -> usize {
    GROUPS.iter().map(|g| g.len() - 1).sum()
}
