//! The charts of the rehearsal, change-control and on-call pages: line
//! charts (rate and latency over time, capacity-search steps) and time
//! lines (freeze calendar, on-call rota). They are drawn by `seawall-chart`,
//! the one place that makes chart markup and escapes it; a page holds the
//! result as a [`Markup`], the only thing its templates embed unescaped.

pub use seawall_chart::Markup;
pub use seawall_chart::line::{LineChart, Marker, Point, Series};
pub use seawall_chart::scale::{fin, fmt_num};
pub use seawall_chart::timeline::{Band, Bar, Row, Timeline};
