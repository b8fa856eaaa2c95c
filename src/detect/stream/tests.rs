use super::*;
use chrono::Duration;

fn t(i: i64) -> DateTime<Utc> {
    "2024-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(i)
}

fn run(values: &[f64], config: StreamConfig) -> (Vec<Vec<FlareEvent>>, Vec<FlareEvent>) {
    let mut d = StreamDetector::new(config);
    let pushes = values
        .iter()
        .enumerate()
        .map(|(i, &v)| d.push(t(i as i64), Some(v)))
        .collect();
    (pushes, d.flush())
}

#[test]
fn single_peak_is_emitted_once_settled() {
    let mut x = vec![5e-7; 200];
    x[10..19].copy_from_slice(&[1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 8e-6, 4e-6, 2e-6, 1e-6]);
    let (pushes, rest) = run(&x, StreamConfig::default());
    assert!(rest.is_empty());
    let emitted: Vec<_> = pushes
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    assert_eq!(emitted.len(), 1);
    let (at, flares) = emitted[0];
    assert_eq!(flares[0].flare_class, "M1.6");
    // The cluster closes when a push is 1 h past the anchor (index 14 -> 74).
    assert_eq!(at, 74);
}

#[test]
fn settled_until_holds_back_at_the_open_cluster() {
    let mut x = vec![5e-7; 200];
    x[10..19].copy_from_slice(&[1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 8e-6, 4e-6, 2e-6, 1e-6]);
    let mut d = StreamDetector::new(StreamConfig::default());
    assert_eq!(d.settled_until(), None);
    for (i, &v) in x.iter().enumerate().take(11) {
        d.push(t(i as i64), Some(v));
    }
    // Rising run at 10: a peak could still sit at its midpoint, 10.
    assert_eq!(d.settled_until(), Some(t(9)));
    for (i, &v) in x.iter().enumerate().take(74).skip(11) {
        d.push(t(i as i64), Some(v));
    }
    // The M1.6 at 14 is the unemitted cluster flare.
    assert_eq!(d.settled_until(), Some(t(13)));
    assert_eq!(d.push(t(74), Some(x[74])).len(), 1);
    assert_eq!(d.settled_until(), Some(t(74)));
    // A missing sample still advances time.
    d.push(t(75), None);
    assert_eq!(d.settled_until(), Some(t(75)));
}

#[test]
fn out_of_order_pushes_are_ignored_and_counted() {
    let mut d = StreamDetector::new(StreamConfig::default());
    assert!(d.push(t(5), Some(1e-7)).is_empty());
    assert!(d.push(t(5), Some(1e-7)).is_empty());
    assert!(d.push(t(4), Some(1e-7)).is_empty());
    assert_eq!(d.stats().out_of_order, 2);
    assert_eq!(d.settled_until(), Some(t(5)));
}
