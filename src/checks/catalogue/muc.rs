//! XEP-0045 Multi-User Chat checks (section numbers and quotes from XEP-0045 1.34/1.35).
//! A suite with `muc-…` steps demands a room service: joins it refuses where the room's
//! configuration admits the user fail the presence checks.

use crate::checks::{CheckDef, Level};

check!(
    MUC_DEFAULT_ROLE,
    "xmpp/xep-0045/5.1.2-default-role",
    "XEP-0045",
    "5.1.2",
    Should,
    "The following table summarizes the initial default roles that a service SHOULD set based on the user's affiliation [...] Moderated: None → Visitor, Member → Participant, Admin → Moderator, Owner → Moderator; Unmoderated: None → Participant [...] (Judged on every self-presence against the affiliations impress gave: the creator is the owner, members-only rooms make their users members, everyone else has none.)"
);
check!(
    MUC_ORDER,
    "xmpp/xep-0045/7.1-order-of-events",
    "XEP-0045",
    "7.1",
    Must,
    "After a client sends presence to join a room, the MUC service MUST send it events in the following order: 1. In-room presence from other occupants 2. In-room presence from the joining entity itself (so-called \"self-presence\") 3. Room history (if any) 4. The room subject 5. Live messages, presence updates, new user joins, etc."
);
check!(
    MUC_OCCUPANT_PRESENCE,
    "xmpp/xep-0045/7.2.2-occupant-presence",
    "XEP-0045",
    "7.2.2",
    Must,
    "If the service is able to add the user to the room, it MUST send presence from all the existing participants' occupant JIDs to the new occupant's full JID [...] the service MUST also send presence from the new participant's occupant JID to the full JIDs of all the occupants (including the new occupant). (Judged on every occupant after a join: it has the presence of every other occupant. A join refused where the room admits the user fails here.)"
);
check!(
    MUC_SELF_PRESENCE,
    "xmpp/xep-0045/7.2.2-self-presence-110",
    "XEP-0045",
    "7.2.2",
    Must,
    "As shown in the last stanza, the \"self-presence\" sent by the room to the new user MUST include a status code of 110 so that the user knows this presence refers to itself as an occupant. (A join refused where the room admits the user, e.g. with no room service at all, fails here.)"
);
check!(
    MUC_MEMBERS_ONLY,
    "xmpp/xep-0045/7.2.6-members-only",
    "XEP-0045",
    "7.2.6",
    Must,
    "If the room is members-only but the user is not on the member list, the service MUST deny access to the room and inform the user that they are not allowed to enter the room; this is done by returning a presence stanza of type \"error\" specifying a <registration-required/> error condition"
);
check!(
    MUC_NICK_CONFLICT,
    "xmpp/xep-0045/7.2.8-nick-conflict",
    "XEP-0045",
    "7.2.8",
    Must,
    "If the room already contains another user with the nickname desired by the user seeking to enter the room (or if the nickname is reserved by another user on the member list), the service MUST deny access to the room and inform the user of the conflict; this is done by returning a presence stanza of type \"error\" specifying a <conflict/> error condition"
);
check!(
    MUC_MAX_USERS,
    "xmpp/xep-0045/7.2.9-max-users",
    "XEP-0045",
    "7.2.9",
    Should,
    "If the room has reached its maximum number of occupants, the service SHOULD deny access to the room and inform the user of the restriction; this is done by returning a presence stanza of type \"error\" specifying a <service-unavailable/> error condition (Impossible when the room configuration form offers no muc#roomconfig_maxusers field.)"
);
check!(
    MUC_HISTORY_DELAY,
    "xmpp/xep-0045/7.2.13-history-delay",
    "XEP-0045",
    "7.2.13",
    Must,
    "Discussion history messages MUST be stamped with Delayed Delivery (XEP-0203) information qualified by the 'urn:xmpp:delay' namespace to indicate that they are sent with delayed delivery and to specify the times at which they were originally sent. The 'from' attribute MUST be set to the JID of the room itself."
);
check!(
    MUC_HISTORY_MAXSTANZAS,
    "xmpp/xep-0045/7.2.14-history-maxstanzas",
    "XEP-0045",
    "7.2.14",
    Must,
    "The service MUST send the smallest amount of traffic that meets any combination of the above criteria, taking into account service-level and room-level defaults. (maxstanzas: \"Limit the total number of messages in the history to X\". Sending history is optional for a service; a suite joining with `history = N` demands it: in a room with at least N messages posted, exactly N history messages pass, fewer or more fail.)"
);
check!(
    MUC_SUBJECT_ON_JOIN,
    "xmpp/xep-0045/7.2.15-subject-on-join",
    "XEP-0045",
    "7.2.15",
    Must,
    "After the room has optionally sent the discussion history to the new occupant, it SHALL send the current room subject. This is a <message/> stanza from the room JID (or from the occupant JID of the entity that set the subject), with a <subject/> element but no <body/> element [...] If there is no subject set, the room MUST return an empty <subject/> element."
);
check!(
    MUC_FANOUT,
    "xmpp/xep-0045/7.4-groupchat-fanout",
    "XEP-0045",
    "7.4",
    Must,
    "If the sender has voice in the room (this is the default except in moderated rooms) and the message does not violate any service-level or room-level policies (e.g., policies regarding message content or size), the service MUST change the 'from' attribute to the sender's occupant JID and reflect the message out to the full JID of each occupant."
);
check!(
    MUC_VISITOR_FORBIDDEN,
    "xmpp/xep-0045/7.4-visitor-forbidden",
    "XEP-0045",
    "7.4",
    Must,
    "If the sender is a visitor (i.e., does not have voice in a moderated room), the service MUST return a <forbidden/> error to the sender and MUST NOT reflect the message to all occupants."
);
check!(
    MUC_EXIT_SELF,
    "xmpp/xep-0045/7.14-exit-self-presence",
    "XEP-0045",
    "7.14",
    Must,
    "The service MUST then send a presence stanzas of type \"unavailable\" from the departing user's occupant JID to the departing occupant's full JIDs, including a status code of \"110\" to indicate that this notification is \"self-presence\""
);
check!(
    MUC_EXIT_BROADCAST,
    "xmpp/xep-0045/7.14-exit-broadcast",
    "XEP-0045",
    "7.14",
    Must,
    "The service MUST then send presence stanzas of type \"unavailable\" from the departing user's occupant JID to the full JIDs of the remaining occupants"
);
check!(
    MUC_SUBJECT_CHANGE,
    "xmpp/xep-0045/8.1-subject-change",
    "XEP-0045",
    "8.1",
    Must,
    "The MUC service MUST reflect the message to all other occupants with a 'from' address equal to the room JID or to the occupant JID that corresponds to the sender of the subject change (impress changes the subject as the room's owner, a moderator)."
);
check!(
    MUC_ROOM_CREATED,
    "xmpp/xep-0045/10.1.1-room-created-201",
    "XEP-0045",
    "10.1.1",
    Must,
    "If this user is allowed to create a room and the room does not yet exist, the service MUST create the room according to some default configuration, assign the requesting user as the initial room owner, and add the owner to the room [...] The initial presence stanza received by the owner from the room MUST include extended presence information indicating the user's status as an owner and acknowledging that the room has been created (via status code 201) and is awaiting configuration. (A suite with `muc-create` steps demands room creation by its users.)"
);
check!(
    MUC_ROOM_CONFIGURED,
    "xmpp/xep-0045/10.1.3-room-configured",
    "XEP-0045",
    "10.1.3",
    Must,
    "If the room owner requested a configuration form, the service MUST send an IQ result to the room owner containing a configuration form qualified by the 'jabber:x:data' namespace [...] If room creation is successful, the service MUST inform the new room owner of success (impress submits the suite's configuration, using the fields the form offers; a refusal, such as <not-acceptable/> for a max_users above the service's limit, fails: the suite's rooms cannot be made)."
);
check!(
    MUC_CONFIG_IN_EFFECT,
    "xmpp/xep-0045/10.2-config-in-effect",
    "XEP-0045",
    "10.2",
    Must,
    "At any time after specifying the initial configuration of the room, a room owner might want to change the configuration. In order to initiate this process, a room owner requests a new configuration form from the room [...] Otherwise, the service MUST send a configuration form to the room owner with the current options set as defaults (impress asks again after its accepted submission: every value it submitted must be the current one, e.g. a max_users the service clamped fails)."
);
check!(
    MUC_DESTROY,
    "xmpp/xep-0045/10.9-destroy",
    "XEP-0045",
    "10.9",
    Must,
    "A room owner MUST be able to destroy a room, especially if the room is persistent. [...] The service is responsible for removing all the occupants. It SHOULD NOT broadcast presence stanzas of type \"unavailable\" from all occupants, instead sending only one presence stanza of type \"unavailable\" to each occupant so that the user knows he or she has been removed from the room. [...] If extended information specifying the JID of an alternate location and/or the reason for the room destruction was provided by the room owner, the presence stanza MUST include that information. (impress gives a reason: every occupant must get it in <destroy/>, and the owner an IQ result.)"
);

/// The checks of this file, in report order.
pub(super) static ALL_MUC: &[&CheckDef] = &[
    &MUC_DEFAULT_ROLE,
    &MUC_ORDER,
    &MUC_OCCUPANT_PRESENCE,
    &MUC_SELF_PRESENCE,
    &MUC_MEMBERS_ONLY,
    &MUC_NICK_CONFLICT,
    &MUC_MAX_USERS,
    &MUC_HISTORY_DELAY,
    &MUC_HISTORY_MAXSTANZAS,
    &MUC_SUBJECT_ON_JOIN,
    &MUC_FANOUT,
    &MUC_VISITOR_FORBIDDEN,
    &MUC_EXIT_SELF,
    &MUC_EXIT_BROADCAST,
    &MUC_SUBJECT_CHANGE,
    &MUC_ROOM_CREATED,
    &MUC_ROOM_CONFIGURED,
    &MUC_CONFIG_IN_EFFECT,
    &MUC_DESTROY,
];
