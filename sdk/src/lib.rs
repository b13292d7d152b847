//! Write Tessera plugins in Rust.
//!
//! A Tessera plugin is a WebAssembly component (target `wasm32-wasip2`) that the server loads,
//! sandboxes and calls for the stanzas, events, ad-hoc commands and HTTP requests it subscribed
//! to. This crate hides the raw WIT bindings (`wit/`, package `tessera:plugin@0.1.2`) behind a
//! trait, one macro and typed helpers, so an author writes:
//!
//! ```
//! use tessera_sdk::{Context, Manifest, Plugin, Stanza, StanzaError, StanzaKind, Subscription, Verdict};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn describe(&self) -> Manifest {
//!         Manifest::new("hello", env!("CARGO_PKG_VERSION"))
//!             .service("hello")
//!             .subscribe(Subscription::service(StanzaKind::Message))
//!     }
//!
//!     fn on_stanza(&self, _ctx: &Context, stanza: &Stanza) -> Verdict {
//!         let Some(reply) = stanza.reply_message("hello!") else {
//!             return Verdict::Pass;
//!         };
//!         match tessera_sdk::router::send(&reply) {
//!             Ok(()) => Verdict::Handled,
//!             Err(_) => Verdict::Error(StanzaError::internal_server_error()),
//!         }
//!     }
//! }
//!
//! tessera_sdk::export_plugin!(Hello);
//! ```
//!
//! The same crate builds natively: the host capabilities are then served by an in-memory fake
//! ([`testing`]), so plugin logic is unit-tested with plain `cargo test`, no server needed.
//!
//! # Layout
//!
//! - [`Plugin`] and the values it receives and returns ([`Context`], [`Verdict`], [`Event`],
//!   [`CommandRequest`], [`HttpRequest`], [`HttpResponse`]): `plugin.rs`; the glue the
//!   [`export_plugin!`] macro expands to: `export.rs`.
//! - [`Manifest`] and its builder pieces: `manifest.rs`.
//! - [`Stanza`]: the header the host parsed plus the XML, parsed lazily into a
//!   [`minidom::Element`]; reply and error builders: `stanza.rs`. Errors: `error.rs`.
//! - XEP helpers: [`forms`] (XEP-0004 data forms), [`rsm`] (XEP-0059 result set management),
//!   [`commands`] (XEP-0050 ad-hoc commands), [`avatar`] (base64 images and their SHA-1 ids), [`blocking`] (whom a user blocked,
//!   XEP-0191), [`xml`] (building elements).
//! - Host capabilities, one module per WIT interface: [`log`], [`clock`], [`router`], [`kv`],
//!   [`archive`], [`blobs`], [`ephemeral`], [`accounts`], [`roster`], [`sessions`],
//!   [`caps`] (0.1.2: the XEP-0115 features of sessions), [`requests`] (0.1.2: other plugins'
//!   IQs on an account's behalf), [`http_outbound`]. A component imports
//!   only the interfaces whose functions it calls, and the operator must grant each of them;
//!   [`scope`] (0.1.1) needs no grant.
//! - [`testing`] (native builds only): the fake host and a [`testing::Harness`].
#![deny(missing_docs)]

pub mod accounts;
pub mod archive;
pub mod avatar;
pub mod blobs;
pub mod blocking;
pub mod caps;
pub mod clock;
pub mod commands;
pub mod config;
pub mod ephemeral;
mod error;
#[doc(hidden)]
pub mod export;
pub mod forms;
pub mod http_outbound;
pub mod kv;
pub mod log;
mod manifest;
mod owner;
mod plugin;
pub mod requests;
pub mod roster;
pub mod router;
pub mod rsm;
pub mod scope;
pub mod sessions;
mod stanza;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod xml;

pub use error::{ErrorType, HostError, ParseError, StanzaError};
pub use manifest::{
    Command, CommandAccess, DataDeclaration, EventKind, Hook, HttpRoute, Identity, Manifest,
    OwnerKind, Subscription, Timer, Visibility,
};
pub use owner::Owner;
pub use plugin::{CommandRequest, Context, Event, HttpRequest, HttpResponse, Plugin, Verdict};
pub use stanza::{QName, Stanza, StanzaKind, addressed_to_account};
pub use tessera_sdk_macro::plugin;

/// Re-exported so plugins use the same versions as the SDK.
pub use jid;
/// Re-exported so plugins use the same versions as the SDK.
pub use minidom;
/// Re-exported so plugins use the same versions as the SDK.
pub use xmpp_parsers;

/// The raw bindings wit-bindgen generates from `wit/` (world `plugin`). Plugins use the wrappers
/// instead; the host imports are only linked on `wasm32`, natively they are unreachable.
#[doc(hidden)]
pub mod bindings {
    #![allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        // Plugins never run bindgen themselves: `export_plugin!` expands to this macro.
        pub_export_macro: true,
        export_macro_name: "__export_plugin_bindings",
        default_bindings_module: "::tessera_sdk::bindings",
        generate_all,
    });
}

/// Exports a [`Plugin`] implementation as the component's `handler` interface.
///
/// Write it once, at the crate root of a `cdylib` crate; the type must implement [`Plugin`] and
/// [`Default`]. The instance is created at the first call, `init` runs on it once, and every later
/// call borrows it. Natively the macro expands to nothing, so the same crate also builds and
/// unit-tests on the host target.
///
/// ```
/// # use tessera_sdk::{Manifest, Plugin};
/// #[derive(Default)]
/// struct EchoBot;
///
/// impl Plugin for EchoBot {
///     fn describe(&self) -> Manifest {
///         Manifest::new("echo-bot", "0.1.0")
///     }
/// }
///
/// tessera_sdk::export_plugin!(EchoBot);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __TesseraExport;
            impl $crate::export::Guest for __TesseraExport {
                fn describe() -> $crate::export::WitManifest {
                    $crate::export::describe::<$ty>()
                }
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::export::init::<$ty>(config)
                }
                fn on_stanza(
                    ctx: $crate::export::WitContext,
                    stanza: $crate::export::WitStanza,
                ) -> $crate::export::WitVerdict {
                    $crate::export::on_stanza::<$ty>(ctx, stanza)
                }
                fn on_event(event: $crate::export::WitEvent) {
                    $crate::export::on_event::<$ty>(event)
                }
                fn on_command(
                    req: $crate::export::WitCommandRequest,
                ) -> ::std::result::Result<::std::string::String, $crate::export::WitStanzaError> {
                    $crate::export::on_command::<$ty>(req)
                }
                fn on_http(req: $crate::export::WitRequest) -> $crate::export::WitResponse {
                    $crate::export::on_http::<$ty>(req)
                }
            }
            $crate::bindings::__export_plugin_bindings!(__TesseraExport with_types_in $crate::bindings);
        };
    };
}
