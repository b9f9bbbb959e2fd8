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
        KidsRoom => "kids_room",
        HomeGym => "home_gym",
        LaundryRoom => "laundry_room",
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
        Japandi => "japandi",
        Farmhouse => "farmhouse",
        ArtDeco => "art_deco",
        Traditional => "traditional",
        Contemporary => "contemporary",
        Mediterranean => "mediterranean",
        Tropical => "tropical",
        Maximalist => "maximalist",
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

/// The labels one model was trained on, in the order of its embedding rows. Every weights file
/// records its own, so a model trained before a label was added keeps serving the labels it
/// knows, each at its own row, and refuses the others by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub room_types: Vec<RoomType>,
    pub styles: Vec<Style>,
}

impl Default for Vocabulary {
    /// Every label this build knows.
    fn default() -> Self {
        Self {
            room_types: RoomType::ALL.to_vec(),
            styles: Style::ALL.to_vec(),
        }
    }
}

/// A label the model at hand was not trained on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model {model} was not trained on the {what} '{given}'; it knows: {known}")]
pub struct NotInVocabulary {
    pub model: String,
    pub what: &'static str,
    pub given: String,
    pub known: String,
}

impl Vocabulary {
    /// The labels of every model trained before the vocabulary grew to 9 x 16: what a weights
    /// file without a vocabulary was trained on.
    pub fn first() -> Self {
        Self {
            room_types: RoomType::ALL[..6].to_vec(),
            styles: Style::ALL[..8].to_vec(),
        }
    }

    /// The room type's embedding row; `None` is the unconditional row, after the labels'.
    pub fn room_row(&self, room: Option<RoomType>) -> Option<usize> {
        row(&self.room_types, room)
    }

    /// The style's embedding row; `None` is the unconditional row, after the labels'.
    pub fn style_row(&self, style: Option<Style>) -> Option<usize> {
        row(&self.styles, style)
    }

    /// Refuses a room type or style this vocabulary lacks, naming `model` and what it knows.
    pub fn check(&self, model: &str, room: RoomType, style: Style) -> Result<(), NotInVocabulary> {
        let missing = |what, given: &str, known: String| NotInVocabulary {
            model: model.to_string(),
            what,
            given: given.to_string(),
            known,
        };
        if !self.room_types.contains(&room) {
            return Err(missing(
                RoomType::WHAT,
                room.name(),
                names(&self.room_types),
            ));
        }
        if !self.styles.contains(&style) {
            return Err(missing(Style::WHAT, style.name(), names(&self.styles)));
        }
        Ok(())
    }

    /// Refuses an empty label list or one that names a label twice.
    pub fn validate(&self) -> Result<(), String> {
        fn distinct<T: Ord + Copy + fmt::Display>(what: &str, labels: &[T]) -> Result<(), String> {
            if labels.is_empty() {
                return Err(format!("the vocabulary has no {what}"));
            }
            let mut sorted = labels.to_vec();
            sorted.sort();
            match sorted.windows(2).find(|w| w[0] == w[1]) {
                Some(w) => Err(format!("the vocabulary names the {what} '{}' twice", w[0])),
                None => Ok(()),
            }
        }
        distinct("room types", &self.room_types)?;
        distinct("styles", &self.styles)
    }
}

fn row<T: PartialEq>(labels: &[T], label: Option<T>) -> Option<usize> {
    match label {
        None => Some(null_id(labels.len())),
        Some(label) => labels.iter().position(|l| *l == label),
    }
}

fn names<T: fmt::Display>(labels: &[T]) -> String {
    labels
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
        assert_eq!(RoomType::ALL.len(), 9);
        assert_eq!(Style::ALL.len(), 16);
        for (i, room) in RoomType::ALL.iter().enumerate() {
            assert_eq!(room.id(), i);
        }
        assert_eq!(RoomType::from_id(RoomType::ALL.len()), None);
        assert_eq!(null_id(Style::ALL.len()), 16);
        assert_eq!(embedding_rows(Style::ALL.len()), 17);
    }

    #[test]
    fn unknown_name_lists_the_allowed_ones() {
        let err = "castle".parse::<RoomType>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown room type 'castle'"), "{msg}");
        assert!(
            msg.contains(
                "living_room, bedroom, kitchen, bathroom, office, dining_room, kids_room, home_gym, laundry_room"
            ),
            "{msg}"
        );
        assert!(
            "Modern".parse::<Style>().is_err(),
            "names are case-sensitive snake_case"
        );
    }

    #[test]
    fn an_older_vocabulary_keeps_its_rows_and_refuses_new_labels_by_name() {
        let first = Vocabulary::first();
        let all = Vocabulary::default();
        for &room in &first.room_types {
            assert_eq!(first.room_row(Some(room)), all.room_row(Some(room)));
        }
        assert_eq!(first.room_row(None), Some(6));
        assert_eq!(all.room_row(None), Some(9));
        assert_eq!(first.style_row(Some(Style::Japandi)), None);
        let error = first
            .check("designer-64@abc", RoomType::Bedroom, Style::Japandi)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("designer-64@abc was not trained on the style 'japandi'"),
            "{error}"
        );
        assert!(error.contains("knows: modern, minimalist"), "{error}");
        assert!(first.check("m", RoomType::KidsRoom, Style::Modern).is_err());
        assert!(all.check("m", RoomType::KidsRoom, Style::Japandi).is_ok());
        let twice = Vocabulary {
            styles: vec![Style::Modern, Style::Modern],
            ..first
        };
        assert!(twice.validate().unwrap_err().contains("'modern' twice"));
    }
}
