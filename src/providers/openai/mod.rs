//! OpenAI's wire shapes (chat completions, completions, the Responses API),
//! which Azure OpenAI and the OpenAI-compatible servers share.

pub mod schema;
