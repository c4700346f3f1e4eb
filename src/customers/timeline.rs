//! How the timeline says what an event was: read back into its type, so the words follow the
//! payloads the service writes (`events::types`) and a renamed member fails to compile here.

use crate::events::types::{EarnSource, EventData, SpendSource};

use super::store::TimelineEvent;

/// `what`, then the ticket's subject when the event is about a ticket (read from the ticket, which
/// an erasure cleans; events carry ids, codes and statuses only, SPEC §5).
pub fn event_summary(e: &TimelineEvent) -> String {
    let about_ticket = |what: String| match &e.ticket_subject {
        Some(subject) => format!("{what}: {subject}"),
        None => what,
    };
    let Some(event) = EventData::read(&e.event_type, &e.data) else {
        return e.event_type.clone();
    };
    match event {
        EventData::CustomerCreated(_) => "Customer created".into(),
        EventData::CustomerUpdated(u) => format!("Profile updated: {}", u.fields.join(", ")),
        EventData::CustomerMerged(m) => format!("Merged customer {} into this one", m.source_customer_id),
        EventData::CustomerErased(_) => "Personal data erased".into(),
        EventData::OrderCreated(o) => format!(
            "Order on {} paid ¥{}: +{} points, −{} points used",
            o.channel, o.paid_amount, o.points_earned, o.points_redeemed
        ),
        EventData::OrderRefunded(r) => format!(
            "Refund of ¥{}: −{} points taken back, +{} points returned",
            r.amount, r.points_clawed_back, r.points_returned
        ),
        EventData::PointsEarned(p) => match p.source {
            EarnSource::Order { .. } => format!("Earned {} points", p.points),
            EarnSource::Campaign { .. } => format!("Earned {} points from a campaign", p.points),
        },
        EventData::PointsRedeemed(p) => match p.source {
            SpendSource::Order { .. } => format!("Used {} points", p.points),
            SpendSource::Reward { quantity, .. } => format!("Used {} points for {quantity} reward(s)", p.points),
        },
        EventData::PointsExpired(p) => format!("{} points expired", p.points),
        EventData::MembershipEnrolled(m) => format!("Joined the membership as {}", m.tier),
        EventData::MembershipTierChanged(t) => {
            format!("Tier {} → {} ({})", t.from.as_deref().unwrap_or("?"), t.to, t.reason)
        }
        EventData::CouponIssued(c) => format!("Coupon {} issued", c.code),
        EventData::CampaignMessage(m) => format!("Campaign message on {}: {}", m.channel, m.text),
        EventData::CouponRedeemed(c) => format!("Coupon {} used: ¥{} off", c.code, c.discount),
        EventData::CouponReturned(c) => format!("Coupon {} given back by a full refund", c.code),
        EventData::CouponRolledBack(c) => format!("Coupon {} redemption undone", c.code),
        EventData::CouponVoided(c) => format!("Coupon {} voided", c.code),
        EventData::TicketCreated(t) => about_ticket(format!("Ticket opened ({}, {})", t.ticket_type, t.priority)),
        EventData::TicketAssigned(t) => {
            about_ticket(format!("Ticket assigned to team {}", t.team.as_deref().unwrap_or("-")))
        }
        EventData::TicketUpdated(t) => about_ticket(format!("Ticket {}", t.ticket.status.replace('_', " "))),
        EventData::TicketResolved(_) => about_ticket("Ticket resolved".into()),
        EventData::TicketSurveyRequested(_) => about_ticket("Satisfaction survey sent".into()),
        EventData::TicketSlaBreached(t) => about_ticket(format!("Ticket {} SLA breached", t.which.replace('_', " "))),
        EventData::TicketCommented(c) => match (c.visibility.as_str(), &e.ticket_subject, &e.note) {
            ("internal", Some(subject), Some(note)) => format!("Internal note on ticket {subject}: {note}"),
            ("internal", _, _) => "Internal note on a ticket".into(),
            _ => about_ticket("Reply sent on ticket".into()),
        },
        EventData::TicketSatisfactionRecorded(s) => about_ticket(format!("Rated ticket {}/5", s.score)),
        EventData::LeadCreated(l) => {
            format!("Lead from {} ({}): {}", l.source, l.kind.replace('_', " "), l.category.as_deref().unwrap_or("-"))
        }
        EventData::LeadAssigned(l) => match l.reason.as_str() {
            "sla_breach" => "Lead re-assigned after a missed response SLA".into(),
            "manual" => "Lead assigned by hand".into(),
            _ => "Lead assigned by rule".into(),
        },
        EventData::LeadSlaBreached(_) => "Lead response SLA missed".into(),
        EventData::LeadContacted(_) => "Lead contacted".into(),
        EventData::LeadQualified(_) => "Lead qualified".into(),
        EventData::LeadWon(w) => match w.order_id {
            Some(order) => format!("Lead won (order {order})"),
            None => "Lead won".into(),
        },
        EventData::LeadLost(_) => "Lead lost".into(),
    }
}
