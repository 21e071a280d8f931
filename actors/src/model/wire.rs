//! `wire_struct!`: a struct of wire fields, each read leniently by the reader it names (see
//! [`super::lenient`]). An `Option` field is omitted on output when unknown, never `null`; any
//! other field is always written and read as its default when absent.
//!
//! ```text
//! wire_struct! {
//!     /// docs
//!     #[derive(Serialize, Deserialize)]
//!     pub struct Victim {
//!         character_id: "lenient::id_opt" => Option<CharacterId>,
//!         #[serde(rename = "totalValue")]
//!         total_value: "lenient::f64_opt" => Option<f64>,
//!         final_blow: "lenient::bool_or_false" => bool,
//!     }
//! }
//! ```
//!
//! `..party,` stands for the fields a victim and an attacker share (character, corporation,
//! alliance and faction ids and names, ship type, name and group), so both declare them once.

/// Expands the short field list into a struct with the serde attributes each field needs.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        wire_struct!(@fields [$(#[$meta])*] $name [] $($body)*);
    };
    // The names and ids a victim and an attacker both carry, in their wire order.
    (@fields $meta:tt $name:ident [$($out:tt)*] ..party, $($rest:tt)*) => {
        wire_struct!(@fields $meta $name [$($out)*]
            character_id: "lenient::id_opt" => Option<CharacterId>,
            character_name: "lenient::string_opt" => Option<String>,
            corporation_id: "lenient::id_opt" => Option<CorporationId>,
            corporation_name: "lenient::string_opt" => Option<String>,
            corporation_ticker: "lenient::string_opt" => Option<String>,
            alliance_id: "lenient::id_opt" => Option<AllianceId>,
            alliance_name: "lenient::string_opt" => Option<String>,
            alliance_ticker: "lenient::string_opt" => Option<String>,
            faction_id: "lenient::id_opt" => Option<FactionId>,
            ship_type_id: "lenient::id_opt" => Option<TypeId>,
            ship_name: "lenient::string_opt" => Option<String>,
            ship_group_id: "lenient::id_opt" => Option<GroupId>,
            $($rest)*
        );
    };
    (@fields [$($meta:tt)*] $name:ident [$($out:tt)*]) => {
        $($meta)*
        pub struct $name { $($out)* }
    };
    (
        @fields $meta:tt $name:ident [$($out:tt)*]
        $(#[$field_meta:meta])* $field:ident : $reader:tt => Option<$ty:ty>, $($rest:tt)*
    ) => {
        wire_struct!(@fields $meta $name [
            $($out)*
            $(#[$field_meta])*
            #[serde(default, deserialize_with = $reader, skip_serializing_if = "Option::is_none")]
            pub $field: Option<$ty>,
        ] $($rest)*);
    };
    (
        @fields $meta:tt $name:ident [$($out:tt)*]
        $(#[$field_meta:meta])* $field:ident : $reader:tt => $ty:ty, $($rest:tt)*
    ) => {
        wire_struct!(@fields $meta $name [
            $($out)*
            $(#[$field_meta])*
            #[serde(default, deserialize_with = $reader)]
            pub $field: $ty,
        ] $($rest)*);
    };
}

pub(crate) use wire_struct;
