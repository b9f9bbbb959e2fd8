//! The one vocabulary of room types and styles, shared by the model (embedding ids), the data
//! (label files), the UI and the API (names).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a closed label set: ordered variants, their wire names, and the id the model sees.
macro_rules! label_set {
    ($(#[$meta:meta])* $name:ident, $what:literal, [$($variant:ident => $text:literal),+ $(,)?]) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case", try_from = "String")]
        pub enum $name { $($variant),+ }

        impl TryFrom<String> for $name {
            type Error = UnknownLabel;
            fn try_from(s: String) -> Result<Self, UnknownLabel> {
                s.parse()
            }
        }

        impl $name {
            /// Every value, in model-id order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// What the label names, for error messages.
            pub const WHAT: &'static str = $what;

            /// The wire name (snake_case), as used in requests, label files and the UI.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The embedding row the model uses for this label.
            pub fn id(self) -> usize {
                self as usize
            }

            /// The label with this embedding row, if any.
            pub fn from_id(id: usize) -> Option<Self> {
                Self::ALL.get(id).copied()
            }

            /// The allowed names, comma-separated, for error messages and help texts.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;
            fn from_str(s: &str) -> Result<Self, UnknownLabel> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| UnknownLabel {
                    what: $what,
                    given: s.to_string(),
                    allowed: Self::allowed(),
                })
            }
        }
    };
}

label_set!(
    /// The kind of room a design shows.
    RoomType, "room type", [
        LivingRoom => "living_room",
        Bedroom => "bedroom",
        Kitchen => "kitchen",
        Bathroom => "bathroom",
        Office => "office",
        DiningRoom => "dining_room",
    ]
);

label_set!(
    /// The interior style a design is dressed in.
    Style, "style", [
        Modern => "modern",
        Minimalist => "minimalist",
        Scandinavian => "scandinavian",
        Industrial => "industrial",
        Bohemian => "bohemian",
        MidCentury => "mid_century",
        Coastal => "coastal",
        Rustic => "rustic",
    ]
);

/// A name that is not in a label set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}'; allowed: {allowed}")]
pub struct UnknownLabel {
    pub what: &'static str,
    pub given: String,
    pub allowed: String,
}

/// Embedding rows per label set: one per label plus the "unconditional" row that label dropout
/// trains and classifier-free guidance samples with.
pub const fn embedding_rows(labels: usize) -> usize {
    labels + 1
}

/// The row of the "no label" embedding (the last row).
pub const fn null_id(labels: usize) -> usize {
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for &room in RoomType::ALL {
            assert_eq!(room.name().parse::<RoomType>().unwrap(), room);
            let json = serde_json::to_string(&room).unwrap();
            assert_eq!(json, format!("\"{}\"", room.name()));
            assert_eq!(serde_json::from_str::<RoomType>(&json).unwrap(), room);
            assert_eq!(RoomType::from_id(room.id()), Some(room));
        }
        for &style in Style::ALL {
            assert_eq!(style.name().parse::<Style>().unwrap(), style);
            let json = serde_json::to_string(&style).unwrap();
            assert_eq!(json, format!("\"{}\"", style.name()));
            assert_eq!(Style::from_id(style.id()), Some(style));
        }
    }

    #[test]
    fn ids_are_dense_and_the_null_row_is_last() {
        assert_eq!(RoomType::ALL.len(), 6);
        assert_eq!(Style::ALL.len(), 8);
        for (i, room) in RoomType::ALL.iter().enumerate() {
            assert_eq!(room.id(), i);
        }
        assert_eq!(RoomType::from_id(RoomType::ALL.len()), None);
        assert_eq!(null_id(Style::ALL.len()), 8);
        assert_eq!(embedding_rows(Style::ALL.len()), 9);
    }

    #[test]
    fn unknown_name_lists_the_allowed_ones() {
        let err = "castle".parse::<RoomType>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown room type 'castle'"), "{msg}");
        assert!(
            msg.contains("living_room, bedroom, kitchen, bathroom, office, dining_room"),
            "{msg}"
        );
        assert!(
            "Modern".parse::<Style>().is_err(),
            "names are case-sensitive snake_case"
        );
    }
}
