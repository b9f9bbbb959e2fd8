//! What each catalog piece is for in a room: its role, read from the catalog's name,
//! category and size. The composer asks for roles ("a bed", "two nightstands"), never for
//! particular pieces, so every library that ships such pieces furnishes rooms.

use crate::catalog::CatalogEntry;

macro_rules! roles {
    ($($role:ident => $name:literal),+ $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role { $($role),+ }

        impl Role {
            pub const ALL: &[Role] = &[$(Role::$role),+];

            pub fn name(self) -> &'static str {
                match self { $(Role::$role => $name),+ }
            }
        }
    };
}

roles! {
    Door => "door",
    Window => "window",
    Bed => "bed",
    Nightstand => "nightstand",
    Wardrobe => "wardrobe",
    Sofa => "sofa",
    Armchair => "armchair",
    CoffeeTable => "coffee_table",
    TvUnit => "tv_unit",
    Tv => "tv",
    DiningTable => "dining_table",
    DiningChair => "dining_chair",
    KitchenBase => "kitchen_base",
    Fridge => "fridge",
    WallCabinet => "wall_cabinet",
    Stool => "stool",
    Bathtub => "bathtub",
    Shower => "shower",
    Toilet => "toilet",
    Washbasin => "washbasin",
    TowelRack => "towel_rack",
    Desk => "desk",
    OfficeChair => "office_chair",
    Bookcase => "bookcase",
    Computer => "computer",
    FloorPlant => "floor_plant",
    SmallPlant => "small_plant",
    FloorLamp => "floor_lamp",
    TableLamp => "table_lamp",
    PendantLight => "pendant_light",
    KidsBed => "kids_bed",
    KidsTable => "kids_table",
    KidsChair => "kids_chair",
    GymMachine => "gym_machine",
    Bench => "bench",
    Washer => "washer",
    LaundryBasket => "laundry_basket",
    ClothesRack => "clothes_rack",
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The role a catalog entry can play, if any. People, vehicles, outdoor things, small
/// objects and odd shapes (corner units, bunk beds) play none.
pub fn role_of(entry: &CatalogEntry) -> Option<Role> {
    let name = entry.name.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    let (w, d, h, e) = (entry.width, entry.depth, entry.height, entry.elevation);
    let category = entry.category.as_str();
    let on_floor = e == 0.0;
    if entry.door_or_window {
        return if has(&["garage", "elevator", "screen", "shutter", "blind"]) {
            None
        } else if has(&["window"]) {
            Some(Role::Window)
        } else if has(&["door"]) && w <= 110.0 {
            Some(Role::Door)
        } else {
            None
        };
    }
    if has(&["corner"]) && !has(&["sofa"]) {
        return None;
    }
    let role = match category {
        "Bedroom" if has(&["bunk bed", "child bed"]) => {
            (w >= 80.0 && d >= 180.0 && h <= 190.0).then_some(Role::KidsBed)?
        }
        "Bedroom"
            if has(&["bed"])
                && !has(&["bedside", "bunk", "baby", "hospital", "mezzanine", "child"]) =>
        {
            (w >= 90.0 && d >= 180.0 && h <= 130.0).then_some(Role::Bed)?
        }
        "Bedroom" if has(&["clothes rack"]) => Role::ClothesRack,
        "Living room" if has(&["children table"]) => Role::KidsTable,
        "Living room" if has(&["children chair", "child chair"]) => Role::KidsChair,
        "Living room" if has(&["bench"]) && !has(&["piano"]) => {
            (on_floor && h <= 60.0).then_some(Role::Bench)?
        }
        "Miscellaneous"
            if has(&[
                "treadmill",
                "indoor bike",
                "fitness tower",
                "abdominal bench",
                "punching ball",
            ]) =>
        {
            Role::GymMachine
        }
        "Kitchen" if has(&["washing machine", "clothes washer", "dryer"]) && on_floor => {
            Role::Washer
        }
        "Bathroom" if has(&["clothes basket"]) => Role::LaundryBasket,
        _ if has(&["bedside", "night table", "nightstand"]) => Role::Nightstand,
        "Bedroom" | "Living room"
            if has(&["wardrobe", "dresser", "cupboard", "chest"]) && !has(&["freezer"]) =>
        {
            Role::Wardrobe
        }
        "Living room" | "Bedroom" if has(&["sofa", "couch"]) && !has(&["opened"]) => {
            (w >= 140.0 && on_floor).then_some(Role::Sofa)?
        }
        "Living room" if has(&["armchair"]) && !has(&["ottoman"]) => Role::Armchair,
        _ if has(&["coffee table"]) => Role::CoffeeTable,
        _ if has(&["tv stand", "television cabinet"]) => Role::TvUnit,
        "Living room" if has(&["tv", "television"]) && !has(&["remote"]) => Role::Tv,
        "Living room" | "Kitchen" | "Office"
            if has(&["table"])
                && !has(&[
                    "coffee",
                    "tennis",
                    "pool",
                    "football",
                    "technical",
                    "children",
                    "bar",
                    "changing",
                    "dressing",
                    "side",
                    "trestles",
                ]) =>
        {
            (w.min(d) >= 60.0 && w.max(d) >= 80.0 && (65.0..=82.0).contains(&h))
                .then_some(Role::DiningTable)?
        }
        "Living room" | "Kitchen"
            if has(&["chair"])
                && !has(&[
                    "arm", "deck", "wheel", "relax", "office", "rocking", "high", "desk", "child",
                    "bar", "ryokan", "class",
                ]) =>
        {
            ((75.0..=120.0).contains(&h) && w <= 80.0).then_some(Role::DiningChair)?
        }
        "Kitchen" if has(&["fridge", "refrigerator"]) && h >= 120.0 => Role::Fridge,
        "Kitchen" if has(&["cabinet", "hood"]) && e >= 120.0 => Role::WallCabinet,
        "Kitchen"
            if has(&[
                "lower cabinet",
                "drawers cabinet",
                "sink",
                "large stove",
                "dishwasher",
            ]) && on_floor =>
        {
            ((70.0..=125.0).contains(&h) && (45.0..=75.0).contains(&d))
                .then_some(Role::KitchenBase)?
        }
        "Kitchen" | "Living room" if has(&["stool", "bar chair"]) => Role::Stool,
        "Bathroom" if has(&["bath"]) && !has(&["bathmat", "bathroom"]) => Role::Bathtub,
        "Bathroom" if has(&["shower stall"]) => Role::Shower,
        "Bathroom" if has(&["toilet"]) && !has(&["brush", "paper"]) => Role::Toilet,
        "Bathroom" if has(&["washbasin", "vanity"]) => Role::Washbasin,
        "Bathroom" if has(&["towel rack", "radiator"]) => Role::TowelRack,
        "Office" if has(&["desk"]) && !has(&["lamp"]) => {
            ((65.0..=110.0).contains(&h) && d >= 50.0).then_some(Role::Desk)?
        }
        "Office" if has(&["chair", "armchair"]) && !has(&["class"]) => Role::OfficeChair,
        "Living room" | "Office" | "Bedroom" if has(&["bookcase", "shelves", "shelving"]) => {
            (on_floor && h >= 70.0 && w <= 200.0).then_some(Role::Bookcase)?
        }
        "Office" if has(&["imac", "laptop", "ibook", "apple pc"]) => Role::Computer,
        "Living room"
            if has(&[
                "plant",
                "ficus",
                "yucca",
                "bamboo",
                "orchid",
                "spathiphyllum",
                "bonsai",
                "cactus",
                "lily",
                "tulip",
                "flowers",
            ]) =>
        {
            if h >= 55.0 {
                (h <= 200.0).then_some(Role::FloorPlant)?
            } else {
                Role::SmallPlant
            }
        }
        "Lights"
            if on_floor
                && !has(&[
                    "desk",
                    "street",
                    "park",
                    "lamppost",
                    "flashlight",
                    "camping",
                ]) =>
        {
            if h >= 100.0 {
                Role::FloorLamp
            } else if (30.0..=75.0).contains(&h) {
                Role::TableLamp
            } else {
                return None;
            }
        }
        "Lights" if has(&["hanging", "pendant", "chandelier"]) => Role::PendantLight,
        _ => return None,
    };
    Some(role)
}
