//! Query-string parameters to requests, with errors that name the
//! parameter. Shared by the HTTP API and `yuqing search`.

use std::fmt;

use yuqing_index::{
    ExportRequest, FacetsRequest, Filters, HistogramRequest, Interval, MAX_LIMIT, SearchRequest,
    Sort,
};

use crate::export::Format;
use yuqing_alertlog::{AckFilter, AlertQuery, Verdict};
use yuqing_lexicon::Lexicon;
use yuqing_model::{Level, Timestamp};
use yuqing_spike::AlertState;

/// Longest query string accepted, in bytes.
pub const MAX_QUERY_STRING_BYTES: usize = 16 * 1024;

/// A bad parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter (or `query string`).
    pub param: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter `{}`: {}", self.param, self.message)
    }
}

impl std::error::Error for ParamError {}

fn err(param: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_string(),
        message: message.into(),
    }
}

const FILTERS: &[&str] = &[
    "q",
    "category",
    "region",
    "platform",
    "from",
    "to",
    "min_score",
    "level",
];

/// Decodes `a=1&b=2`, refusing unknown and repeated parameters.
pub fn pairs(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ParamError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY_STRING_BYTES {
        return Err(err(
            "query string",
            format!(
                "is {} bytes, over the limit of {MAX_QUERY_STRING_BYTES}",
                raw.len()
            ),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k.is_empty() {
            return Err(err(
                "query string",
                format!("`={v}`: a value without a parameter name"),
            ));
        }
        if !allowed.contains(&k.as_ref()) {
            return Err(err(
                &k,
                format!("unknown parameter (known: {})", allowed.join(", ")),
            ));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(err(&k, "given more than once"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn number<T: std::str::FromStr>(
    pairs: &[(String, String)],
    key: &str,
    what: &str,
) -> Result<Option<T>, ParamError> {
    get(pairs, key)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| err(key, format!("`{v}` is not {what}")))
        })
        .transpose()
}

fn timestamp(pairs: &[(String, String)], key: &str) -> Result<Option<Timestamp>, ParamError> {
    let Some(v) = get(pairs, key) else {
        return Ok(None);
    };
    let parsed = match v.parse::<i64>() {
        Ok(n) => Timestamp::from_epoch(n),
        Err(_) => Timestamp::parse_rfc3339(v),
    };
    parsed.map(Some).map_err(|e| err(key, e.to_string()))
}

/// A category id checked against the dictionaries' ids.
fn category_id(c: &str, lexicon: &Lexicon) -> Result<String, String> {
    if lexicon.category_index(c).is_some() {
        return Ok(c.to_string());
    }
    let known: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
    Err(format!(
        "unknown category `{c}` (known: {})",
        known.join(", ")
    ))
}

/// A region name or alias, as the canonical name the index holds.
fn region_name(r: &str, lexicon: &Lexicon) -> Result<String, String> {
    match lexicon.region_by_name(r) {
        Some(region) => Ok(region.name.clone()),
        None => Err(format!(
            "unknown region `{r}`: use a name from the gazetteer, e.g. 滁州市 or 滁州"
        )),
    }
}

/// The `category` parameter, checked against the dictionaries' ids.
fn category(pairs: &[(String, String)], lexicon: &Lexicon) -> Result<Option<String>, ParamError> {
    get(pairs, "category")
        .map(|c| category_id(c, lexicon).map_err(|e| err("category", e)))
        .transpose()
}

/// A `field:value` term inside `q`: `category`, `region` and `level` get
/// the checks and the region aliases of the parameters of the same names
/// (`region:滁州` searches `滁州市`); other fields are left as written.
pub fn query_field(field: &str, value: &str, lexicon: &Lexicon) -> Result<Option<String>, String> {
    let checked = match field {
        "category" => category_id(value, lexicon),
        "region" => region_name(value, lexicon),
        "level" => value
            .parse::<Level>()
            .map(|l| l.as_str().to_string())
            .map_err(|e| e.to_string()),
        _ => return Ok(None),
    };
    checked
        .map(Some)
        .map_err(|e| format!("field `{field}`: {e}"))
}

/// [`query_field`] with the dictionaries in use, for
/// [`yuqing_index::PostIndex::set_query_fields`].
pub fn query_fields(
    lexicon: std::sync::Arc<yuqing_lexicon::SharedLexicon>,
) -> std::sync::Arc<yuqing_index::FieldValuesFn> {
    std::sync::Arc::new(move |field: &str, value: &str| query_field(field, value, &lexicon.load()))
}

/// The filters, with category ids and region names checked against the
/// dictionaries (region aliases resolve: `滁州` → `滁州市`).
pub fn filters(pairs: &[(String, String)], lexicon: &Lexicon) -> Result<Filters, ParamError> {
    let category = category(pairs, lexicon)?;
    let region = get(pairs, "region")
        .map(|r| region_name(r, lexicon).map_err(|e| err("region", e)))
        .transpose()?;
    let level = get(pairs, "level")
        .map(|v| v.parse::<Level>().map_err(|e| err("level", e.to_string())))
        .transpose()?;
    let min_score = number::<f64>(pairs, "min_score", "a number")?;
    if let Some(s) = min_score
        && !(s.is_finite() && s >= 0.0)
    {
        return Err(err("min_score", "must be a number of at least 0"));
    }
    let from = timestamp(pairs, "from")?;
    let to = timestamp(pairs, "to")?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(err("from", format!("{f} is not before `to` ({t})")));
    }
    Ok(Filters {
        category,
        region,
        platform: get(pairs, "platform").map(str::to_string),
        from,
        to,
        min_score,
        level,
    })
}

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    FILTERS.iter().chain(extra).copied().collect()
}

/// `GET /api/v1/search` parameters: the filters, `sort`, `limit`,
/// `offset`, `cursor`.
pub fn search(raw: Option<&str>, lexicon: &Lexicon) -> Result<SearchRequest, ParamError> {
    let p = pairs(raw, &with(&["sort", "limit", "offset", "cursor"]))?;
    let sort = sort(&p)?;
    let limit = number::<usize>(&p, "limit", "a whole number")?.unwrap_or(20);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(err(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}, got {limit}"),
        ));
    }
    let offset = number::<usize>(&p, "offset", "a whole number")?.unwrap_or(0);
    if offset > yuqing_index::MAX_OFFSET {
        return Err(err(
            "offset",
            format!(
                "must be at most {}, got {offset}: page further with `cursor` (each answer's `next_cursor`)",
                yuqing_index::MAX_OFFSET
            ),
        ));
    }
    Ok(SearchRequest {
        q: get(&p, "q").unwrap_or("").to_string(),
        filters: filters(&p, lexicon)?,
        sort,
        limit,
        offset,
        cursor: get(&p, "cursor").map(str::to_string),
    })
}

fn sort(p: &[(String, String)]) -> Result<Sort, ParamError> {
    Ok(get(p, "sort")
        .map(|s| {
            s.parse::<Sort>()
                .map_err(|_| err("sort", format!("`{s}`: expected time, relevance or score")))
        })
        .transpose()?
        .unwrap_or_default())
}

/// `GET /api/v1/export` parameters: the filters, `sort` and `format`
/// (default `csv`).
pub fn export(raw: Option<&str>, lexicon: &Lexicon) -> Result<(ExportRequest, Format), ParamError> {
    let p = pairs(raw, &with(&["sort", "format"]))?;
    let format = get(&p, "format")
        .map(|f| f.parse::<Format>().map_err(|e| err("format", e)))
        .transpose()?
        .unwrap_or_default();
    Ok((
        ExportRequest {
            q: get(&p, "q").unwrap_or("").to_string(),
            filters: filters(&p, lexicon)?,
            sort: sort(&p)?,
        },
        format,
    ))
}

/// `GET /api/v1/histogram` parameters: the filters and `interval`
/// (default `1h`).
pub fn histogram(raw: Option<&str>, lexicon: &Lexicon) -> Result<HistogramRequest, ParamError> {
    let p = pairs(raw, &with(&["interval"]))?;
    let interval = get(&p, "interval")
        .map(|s| {
            s.parse::<Interval>()
                .map_err(|_| err("interval", format!("`{s}`: expected 1m, 5m, 1h or 1d")))
        })
        .transpose()?
        .unwrap_or(Interval::Hour);
    Ok(HistogramRequest {
        q: get(&p, "q").unwrap_or("").to_string(),
        filters: filters(&p, lexicon)?,
        interval,
    })
}

/// `GET /api/v1/facets` parameters: the filters and `size` (regions to
/// return, default 20).
pub fn facets(raw: Option<&str>, lexicon: &Lexicon) -> Result<FacetsRequest, ParamError> {
    let p = pairs(raw, &with(&["size"]))?;
    let size = number::<usize>(&p, "size", "a whole number")?.unwrap_or(20);
    if size == 0 || size > yuqing_index::MAX_FACET_SIZE {
        return Err(err(
            "size",
            format!(
                "must be from 1 to {}, got {size}",
                yuqing_index::MAX_FACET_SIZE
            ),
        ));
    }
    Ok(FacetsRequest {
        q: get(&p, "q").unwrap_or("").to_string(),
        filters: filters(&p, lexicon)?,
        size,
    })
}

/// Most alerts one list returns.
pub const MAX_ALERTS: usize = 1_000;

/// `GET /api/v1/alerts` parameters: `state`, `since`, `category`,
/// `acked`, `verdict`, `limit`.
pub fn alerts(raw: Option<&str>, lexicon: &Lexicon) -> Result<AlertQuery, ParamError> {
    let pairs = pairs(
        raw,
        &["state", "since", "category", "acked", "verdict", "limit"],
    )?;
    let state = get(&pairs, "state")
        .map(|v| v.parse::<AlertState>().map_err(|e| err("state", e)))
        .transpose()?;
    let category = category(&pairs, lexicon)?;
    let limit = number::<usize>(&pairs, "limit", "a whole number")?.unwrap_or(100);
    if limit == 0 || limit > MAX_ALERTS {
        return Err(err("limit", format!("must be from 1 to {MAX_ALERTS}")));
    }
    Ok(AlertQuery {
        state,
        since: timestamp(&pairs, "since")?,
        category,
        acks: ack_filter(&pairs)?,
        limit,
    })
}

/// `acked=true|false` and `verdict=…` of `GET /api/v1/alerts`.
fn ack_filter(pairs: &[(String, String)]) -> Result<AckFilter, ParamError> {
    let acked = get(pairs, "acked")
        .map(|v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(err("acked", format!("`{v}`: expected true or false"))),
        })
        .transpose()?;
    let verdict = get(pairs, "verdict")
        .map(|v| v.parse::<Verdict>().map_err(|e| err("verdict", e)))
        .transpose()?;
    Ok(AckFilter { acked, verdict })
}
