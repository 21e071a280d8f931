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

/// Expands the short field list into a struct with the serde attributes each field needs.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        wire_struct!(@fields [$(#[$meta])*] $name [] $($body)*);
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
