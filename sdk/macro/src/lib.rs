//! `#[tessera_sdk::plugin]`: exports a plugin type, as `tessera_sdk::export_plugin!(Type)` does.
//!
//! Put it on the plugin's struct (or enum), or on its `impl Plugin for Type` block; the type must
//! implement `tessera_sdk::Plugin` and `Default`. The expansion names `::tessera_sdk`, so the
//! plugin crate depends on `tessera-sdk` under that name.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Item, parse_macro_input};

/// Exports the annotated plugin type (struct, enum, or the type of an `impl Plugin for …`).
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new_spanned(attr, "#[plugin] takes no arguments")
            .to_compile_error()
            .into();
    }
    let parsed = parse_macro_input!(item as Item);
    let ty = match &parsed {
        Item::Struct(s) => {
            let ident = &s.ident;
            quote!(#ident)
        }
        Item::Enum(e) => {
            let ident = &e.ident;
            quote!(#ident)
        }
        Item::Impl(i) if i.trait_.is_some() => {
            let self_ty = &i.self_ty;
            quote!(#self_ty)
        }
        other => {
            return syn::Error::new_spanned(
                other,
                "#[plugin] goes on the plugin's struct or enum, or on its `impl Plugin for …` block",
            )
            .to_compile_error()
            .into();
        }
    };
    quote! {
        #parsed
        ::tessera_sdk::export_plugin!(#ty);
    }
    .into()
}
