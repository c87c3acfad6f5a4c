"""A labelled retrieval set for the search index: documents of the product's kinds
(projects, tasks, channel messages, clients, proposals, client feedback) from five
fictional agencies, and questions, each with the ids of the documents that answer it.

Used by bench/rag_quality.py to compare full-text, vector and hybrid ranking, and by
tests/unit/test_rag_corpus.py to check that it is well formed.

How it is made, so that the figures mean something:

- The ~115 *anchor* documents are hand-written. Every question's relevant documents are
  anchors, and every anchor topic has neighbours on purpose (renewing a TLS certificate
  beside renewing a domain; offline mode for couriers beside keyless vans in car parks;
  the printer's proof beside a message about the foil on that proof), so a ranking has to
  tell them apart.
- The ~230 *filler* documents come from templates over hand-written pools (ordinary
  agency work: wireframes, content calendars, moodboards, run of show...), for the same
  clients and for others. The pools stay off the topics the questions ask about, so a
  filler is never a missed answer, only noise a ranking must push down. Generation is
  seeded: the same code gives the same documents and ids.
- About a third of the questions share the key terms of their answer (``lexical``); the
  rest are paraphrases that avoid the answer's distinctive words (``paraphrase``):
  "which task deals with the bakery's HTTPS about to lapse?" for a task about renewing the
  TLS certificate. Each relevant pair was checked by hand.
- A few documents are longer than one chunk (1,000 characters) and the answer sits in a
  later passage, so ranking a document by its best chunk is exercised.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

KINDS = ("project", "task", "message", "client", "proposal", "feedback")
STYLES = ("lexical", "paraphrase")


@dataclass(frozen=True)
class Document:
    id: str
    kind: str
    title: str
    content: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    relevant: tuple[str, ...]
    style: str  # "lexical": shares the answer's key terms; "paraphrase": avoids them


def _task(description: str, *checklist: str) -> str:
    """A task's searchable text: its description, then its checklist items."""
    items = "\n".join(f"- {item}" for item in checklist)
    return f"{description}\nChecklist:\n{items}" if checklist else description


# --- Anchor documents, by agency --------------------------------------------------------
# (id, kind, title, content). Ids: <kind>-<agency>-<topic>. Agencies: nw Northwind Studio
# (web design), bl Brightline (marketing, SEO), ph Pixel Harbor (mobile apps), cs Copper &
# Sage (branding), le Lumen Events (events).

_NORTHWIND: list[tuple[str, str, str, str]] = [
    ("client-nw-harbor-bakery", "client", "Harbor Lane Bakery",
     "Industry: food and hospitality. Family bakery with three shops in Portsmouth, run by "
     "Maria Costa and her brother. They sell celebration cakes, sourdough and pastries. Maria "
     "prefers a phone call to email and approves everything herself on Friday mornings."),
    ("client-nw-alder-finch", "client", "Alder & Finch Solicitors",
     "Industry: legal services. A firm of 35 staff specialising in conveyancing and family "
     "law. Strict about confidentiality: documents are never sent by email, only through "
     "their own portal. Contact: practice manager Helen Okafor."),
    ("client-nw-velocity", "client", "Velocity Bikes",
     "Industry: retail (cycling). Independent bicycle shop with a busy online store; about "
     "40% of yearly sales happen between March and May. Owner Sam Whitfield; their developer "
     "left last year, so we maintain everything."),
    ("project-nw-bakery-site", "project", "Harbor Lane Bakery website rebuild",
     "Rebuild the bakery's website on a headless CMS with a pre-order flow for celebration "
     "cakes (size, flavour, message, collection date) and click-and-collect from any of the "
     "three shops. Payments through Stripe. Launch before the Christmas season."),
    ("project-nw-alder-portal", "project", "Alder & Finch client portal",
     "A secure portal where the firm's clients upload and sign documents, follow the "
     "progress of their house purchase and message their solicitor. Hosted in the UK, "
     "two-factor sign-in, an audit log of every download."),
    ("project-nw-velocity-migration", "project", "Velocity Bikes store migration",
     "Move the online store from WooCommerce to Shopify without losing search traffic: keep "
     "product URLs where possible, redirect the rest, migrate 3,400 products, customer "
     "accounts and order history. Cut over in January, the quietest month."),
    ("task-nw-tls", "task", "Renew the TLS certificate on the bakery's web server",
     _task("The certificate for harborlanebakery.co.uk expires on 14 March. Renew it and "
           "switch to automatic renewal so that this no longer depends on someone "
           "remembering.",
           "Install certbot and enable its systemd timer",
           "Check the chain with SSL Labs (grade A)",
           "Add the HSTS header once renewal works")),
    ("task-nw-domain", "task", "Renew the bakery's domain registration",
     _task("harborlanebakery.co.uk is registered until 2 May. The card on file with the "
           "registrar expired, so the automatic renewal will fail. Ask Maria for a new card "
           "or transfer the domain to our agency account.",
           "Confirm the expiry date in WHOIS", "Update the payment card",
           "Turn on the registrar lock")),
    ("task-nw-redirects", "task", "Map old WooCommerce URLs to Shopify",
     _task("Export every product and category URL from WooCommerce (about 1,200 indexed "
           "pages) and map each to its new Shopify URL. Upload them as 301 redirects before "
           "the cut-over, then watch Search Console for 404 errors for two weeks.",
           "Crawl the current site with Screaming Frog", "Build the mapping spreadsheet",
           "Import the redirects into Shopify", "Monitor 404s after launch")),
    ("task-nw-2fa", "task", "Two-factor sign-in for the client portal",
     _task("Clients of Alder & Finch sign in with a password plus a six-digit code from an "
           "authenticator app (TOTP). SMS codes only as a fallback. Issue ten single-use "
           "recovery codes at enrolment.",
           "TOTP enrolment screen with QR code", "Recovery codes download",
           "Rate-limit code attempts", "Support playbook for lost devices")),
    ("task-nw-cookies", "task", "Cookie consent banner",
     _task("The bakery site loads Google Analytics and the Meta pixel. Under UK GDPR and PECR "
           "neither may run until the visitor opts in. Add a consent banner with equal "
           "Accept and Reject buttons and keep a record of each consent.",
           "Block analytics scripts until consent", "Reject as prominent as Accept",
           "Cookie policy page")),
    ("task-nw-vitals", "task", "Improve Core Web Vitals on product pages",
     _task("Largest Contentful Paint on Velocity's product pages is 4.1 s on mobile (goal: "
           "under 2.5 s). The hero photos are 3 MB JPEGs. Convert them to WebP/AVIF with "
           "responsive sizes, lazy-load images below the fold and defer the reviews widget.",
           "Image pipeline with srcset", "Defer third-party scripts",
           "Re-measure with PageSpeed Insights")),
    ("task-nw-a11y", "task", "Accessibility audit to WCAG 2.1 AA",
     _task("Audit the Alder & Finch portal before launch: colour contrast, alt text, form "
           "labels, keyboard-only navigation, and testing with NVDA and VoiceOver. Several of "
           "the firm's clients are elderly.",
           "Automated scan with axe", "Manual keyboard pass", "Screen reader pass",
           "Fix report with priorities")),
    ("task-nw-backups", "task", "Nightly database backups for the portal",
     _task("Dump the portal's PostgreSQL database every night to encrypted storage in the UK "
           "region, keep 30 daily and 12 monthly copies, and rehearse a restore every month "
           "on staging.",
           "pg_dump job at 02:00", "Encryption key in the vault", "Retention policy",
           "Monthly restore drill")),
    ("task-nw-staging", "task", "Staging copy of the bakery site",
     _task("A password-protected staging site on its own subdomain so that Maria can review "
           "new product pages before they go live. Same CMS, Stripe test keys, no real "
           "orders.",
           "Subdomain and basic auth", "Test payment keys", "Seed with sample products")),
    ("task-nw-esign", "task", "Electronic signatures in the portal",
     _task("Clients sign engagement letters and transfer deeds in the portal. Use an advanced "
           "electronic signature provider with identity checks, and store the signed PDF and "
           "its audit trail with the case.",
           "Choose the signature provider", "Identity check flow",
           "Store signed PDF with audit trail")),
    ("task-nw-launch", "task", "Launch checklist for the bakery website",
     "Everything that must be true before and just after the bakery's new site goes live. "
     "Owner: Grace; Maria signs off the content items.\n"
     "Before launch:\n"
     "- Every product has a photo, a price, allergens and a lead time; celebration cakes "
     "show the earliest collection date.\n"
     "- Click-and-collect works for all three shops, and each shop's opening hours match "
     "its Google listing.\n"
     "- Stripe is in live mode with the production webhook secret; a real order of a £2 "
     "test item is placed and refunded.\n"
     "- Order confirmation and 'ready to collect' emails come from the bakery's own address "
     "and do not land in spam (SPF and DKIM set).\n"
     "- The old site's top 50 pages redirect to their new addresses.\n"
     "Launch day:\n"
     "- Switch DNS at 7:00, before the first shop opens; keep the old server running for a "
     "week.\n"
     "- Watch the error log and the order list every hour until the shops close.\n"
     "After launch:\n"
     "- Uptime monitoring checks the home page and the checkout every minute and texts the "
     "on-call phone if either is down for more than two minutes, day or night.\n"
     "- A weekly check of failed payments for the first month.\n"
     "- Maria's staff get a one-page guide for marking orders as collected."),
    ("message-nw-stripe", "message", "#bakery-website",
     "Heads up: three test orders failed at checkout last night. Stripe rejected the webhook "
     "because the signing secret was rotated on Monday. I've updated the variable on "
     "staging; production still has the old one. Can someone with access change it today?"),
    ("message-nw-christmas", "message", "#bakery-website",
     "Maria just phoned: they want the Christmas cake range online by 1 December instead of "
     "the 15th, because office parties order early. Can we bring the product photography "
     "forward a week?"),
    ("message-nw-cutover", "message", "#velocity-migration",
     "Cut-over plan for the Shopify switch: freeze orders on Sunday 19 January at 20:00, run "
     "the final product and customer import, switch DNS at 22:00, smoke-test a real order "
     "with Sam's card, lift the freeze. Rollback is pointing DNS back at the old server."),
    ("feedback-nw-upload", "feedback", "Feedback from Alder & Finch Solicitors",
     "The new portal is far easier for our clients than email was, thank you. One problem: "
     "the 10 MB upload limit is too small for scanned title deeds, which are often 30 to "
     "40 MB. Could it be raised?"),
    ("feedback-nw-velocity", "feedback", "Feedback from Velocity Bikes",
     "Sales in the first week on the new store were up 12% on last January, and staff find "
     "the admin much simpler. The only thing missing is the size guide pop-up we had "
     "before."),
    ("proposal-nw-velocity", "proposal", "Proposal: Velocity Bikes Shopify migration",
     "Scope: migration of products, customers and orders, redirects, a theme adapted from "
     "Dawn, and two weeks of hypercare. Fixed fee of eighteen thousand four hundred pounds, "
     "paid forty percent on signature, forty percent at cut-over and twenty percent after "
     "hypercare."),
    ("proposal-nw-portal", "proposal", "Proposal: Alder & Finch client portal",
     "Design and build of the client portal with document upload, e-signature and case "
     "tracking. Sixty-two thousand pounds over five months, plus hosting and support at nine "
     "hundred pounds a month."),
]

_BRIGHTLINE: list[tuple[str, str, str, str]] = [
    ("client-bl-greenleaf", "client", "Greenleaf Organic Foods",
     "Industry: food retail. Chain of 18 organic grocery stores in the South West. Marketing "
     "director Tom Reyes. Brand values: seasonal, local farms, no plastic packaging. Prefers "
     "a relaxed, friendly voice."),
    ("client-bl-summit", "client", "Summit Fitness",
     "Industry: health and fitness. Gym chain with 12 clubs; most new members join in "
     "January. Head of growth Priya Nair measures everything by cost per acquisition."),
    ("client-bl-coastal", "client", "Coastal Credit Union",
     "Industry: financial services. Member-owned credit union with nine branches on the "
     "coast. Regulated: every advert and landing page must be approved by their compliance "
     "officer before publication."),
    ("project-bl-greenleaf-spring", "project", "Greenleaf spring campaign",
     "Seasonal campaign for spring produce: recipe videos with local farmers, in-store "
     "posters, Instagram and TikTok, and a newsletter series. Goal: 15% more basket spend on "
     "fresh produce in April and May."),
    ("project-bl-summit-newyear", "project", "Summit Fitness New Year membership drive",
     "Paid social (Meta and TikTok), search ads and a referral offer from 26 December to "
     "31 January. Target: 2,400 new members at under £38 each."),
    ("project-bl-coastal-seo", "project", "Coastal Credit Union SEO programme",
     "Twelve-month search programme: technical fixes, content for the mortgage and savings "
     "pages, local search for nine branches and monthly reporting."),
    ("task-bl-ab-subject", "task", "A/B test the March newsletter subject lines",
     _task("Send two subject lines for Greenleaf's March newsletter to 10% of the list each; "
           "after four hours the version with the higher open rate goes to the remaining "
           "80%.",
           "Write both variants", "Set up the split in Mailchimp",
           "Report the winner and open rates")),
    ("task-bl-utm", "task", "UTM tagging for every campaign link",
     _task("Every link in the ads, emails and posts of the Summit drive gets utm_source, "
           "utm_medium and utm_campaign, so that GA4 shows which channel the sign-ups come "
           "from.",
           "Naming convention sheet", "Tag all ad links",
           "Check the attribution report in GA4")),
    ("task-bl-influencers", "task", "Shortlist micro-influencers for Greenleaf",
     _task("Find 15 creators with 10k to 50k followers who post vegetarian recipes in the "
           "South West. Check engagement rate and past brand work; every post must be marked "
           "#ad.",
           "Long list from search tools", "Engagement check", "Rates and availability",
           "Draft agreement with disclosure clause")),
    ("task-bl-compliance", "task", "Compliance approval for mortgage ad copy",
     _task("The credit union's compliance officer must approve every mortgage advert: "
           "representative APR, the 'your home may be repossessed' warning and the FCA's "
           "financial promotion rules. Allow five working days.",
           "Send the copy deck", "Collect comments",
           "Final sign-off recorded in the project")),
    ("task-bl-keywords", "task", "Keyword research for mortgage pages",
     _task("Find search volume and difficulty for first-time buyer, remortgage and "
           "buy-to-let keywords in the credit union's region. Group them by intent and "
           "assign each group to a page.",
           "Export from Ahrefs", "Cluster by intent", "Page mapping")),
    ("task-bl-gbp", "task", "Update the branches' Google Business Profiles",
     _task("Nine branch listings show old opening hours and two have the wrong phone number. "
           "Correct the hours, add holiday hours, upload new photos and answer the open "
           "reviews.",
           "Verify ownership of all nine", "Hours and phone numbers", "Photos",
           "Review replies")),
    ("task-bl-backlinks", "task", "Backlink outreach for the savings guides",
     _task("Pitch the credit union's savings guides to personal finance blogs and local news "
           "sites for links. Target: 10 links from sites with a domain rating above 40.",
           "Prospect list", "Outreach emails", "Track links won")),
    ("task-bl-pacing", "task", "Check paid social budget pacing",
     _task("Summit's Meta campaigns are spending 30% above plan in the first week because of "
           "automatic bidding. Cap daily spend at £450 and move budget to the "
           "best-performing ad sets.",
           "Daily spend report", "Set campaign spending limits",
           "Reallocate to the top ad sets")),
    ("task-bl-tech-audit", "task", "Technical SEO audit of coastalcu.co.uk",
     "Findings from the crawl of 1,850 URLs, in order of priority.\n"
     "1. Duplicate content: every article has a printer-friendly copy under /print/ that is "
     "indexable; add a canonical tag pointing at the article or noindex the print versions.\n"
     "2. The mortgage rate tables are rendered by JavaScript after the page loads, so search "
     "engines often see an empty table. Render them on the server.\n"
     "3. 212 internal links point at redirects, mostly old branch pages; update them to the "
     "final URLs.\n"
     "4. Mixed content: 37 pages load images and one script from http:// addresses, which "
     "browsers block or flag on the secure site. Change them to https:// or host the files "
     "ourselves.\n"
     "5. The XML sitemap lists 140 URLs that return 404 and misses the new savings guides.\n"
     "6. Title tags are duplicated on 64 branch and product pages ('Coastal Credit Union - "
     "Home'); write unique titles.\n"
     "7. Image alt text is missing on 40% of images.\n"
     "8. Core pages are four or more clicks from the homepage; add them to the main "
     "navigation.\n"
     "Next step: agree with the credit union's web team which fixes we make and which they "
     "make, then crawl again in six weeks."),
    ("message-bl-hail", "message", "#greenleaf-spring",
     "The farm shoot is moving to Thursday: hail on Monday night damaged the strawberry beds "
     "and the farmer wants a few days for the plants to recover. Crew and food stylist are "
     "confirmed for Thursday at 7:30."),
    ("message-bl-code", "message", "#summit-newyear",
     "The promo code NEWYOU25 has been posted on a voucher site and we're seeing redemptions "
     "from towns without a club. Proposal: retire it and issue unique single-use codes per "
     "channel from tomorrow."),
    ("message-bl-weekly", "message", "#summit-newyear",
     "Week 2 numbers for the membership drive.\n"
     "Sign-ups: 1,130 so far against the target of 2,400 by 31 January, slightly ahead of "
     "a straight line. Cost per acquisition across all channels is £34.\n"
     "By channel: Meta brought 610 members at £29 each; search 310 at £31; referrals 150 at "
     "£12, the cheapest by far; TikTok only 60 members at £71 each, more than double "
     "anything else.\n"
     "Creative: the 'first month free' video beats the static 'no joining fee' ads by 40% "
     "on click-through, and the ads with real members outperform the ones with models.\n"
     "Clubs: Leeds and Sheffield are full at peak times and their club managers ask us to "
     "stop targeting them; Hull and York have spare capacity.\n"
     "Proposed for week 3: pause TikTok and move its budget to Meta and search; stop ads "
     "within 10 miles of Leeds and Sheffield; add a second video with members. Priya to "
     "confirm by Wednesday."),
    ("message-bl-rankings", "message", "#coastal-seo",
     "Organic traffic to the mortgage pages is up 34% since the content refresh; 'remortgage "
     "calculator' reached position 3. Branch pages are still weak outside the main town."),
    ("feedback-bl-tone", "feedback", "Feedback from Greenleaf Organic Foods",
     "We love the recipe videos. The captions, though, read as too corporate for our "
     "shoppers, more like a bank than a farm shop. Could they be warmer and shorter?"),
    ("feedback-bl-report", "feedback", "Feedback from Coastal Credit Union",
     "The monthly SEO report is 40 pages and nobody on our board reads it. We only need "
     "rankings for our top 20 terms, branch traffic and one page of recommendations."),
    ("proposal-bl-summit", "proposal", "Proposal: Summit Fitness New Year acquisition",
     "Media budget of thirty-five thousand pounds across Meta, TikTok and search, plus a "
     "management fee of fifteen percent of media and a flat creative fee of six thousand "
     "pounds."),
    ("proposal-bl-coastal", "proposal", "Proposal: Coastal Credit Union SEO retainer",
     "A twelve-month retainer at three thousand two hundred pounds per month covering "
     "technical SEO, two articles a month, local listings and reporting. Either side may end "
     "it with sixty days' notice."),
]

_PIXEL_HARBOR: list[tuple[str, str, str, str]] = [
    ("client-ph-mediroute", "client", "MediRoute",
     "Industry: healthcare logistics. Delivers prescriptions from pharmacies to patients' "
     "homes with 140 couriers. Handles patient data, so a data protection impact assessment "
     "is required for every new feature."),
    ("client-ph-tidal", "client", "Tidal Yoga",
     "Industry: wellness. Seven yoga studios in Bristol and Cardiff; members buy class packs "
     "and monthly passes. Founder Ana Lima wants an app that feels calm, not salesy."),
    ("client-ph-fleetpal", "client", "FleetPal",
     "Industry: vehicle rental. Rents vans by the hour to small businesses; customers unlock "
     "the van with their phone. Operations manager: Gareth Pugh."),
    ("project-ph-courier", "project", "MediRoute courier app",
     "React Native app for couriers: the day's route, proof of delivery with a photo and a "
     "signature, offline mode, and a handover checklist for controlled drugs. Dispatcher web "
     "dashboard in phase two."),
    ("project-ph-yoga", "project", "Tidal Yoga booking app",
     "iOS and Android app to browse the timetable, book and cancel classes, buy packs with "
     "Apple Pay and Google Pay, and join waitlists for full classes."),
    ("project-ph-fleetpal", "project", "FleetPal keyless app update",
     "Bluetooth unlocking of vans, damage photos at pick-up and return, and fuel level "
     "reporting. Must work in underground car parks."),
    ("task-ph-offline", "task", "Offline mode for the delivery list",
     _task("Couriers lose signal in hospital basements and blocks of flats. Cache the day's "
           "stops and proofs of delivery in SQLite on the device and sync when the "
           "connection returns; the server keeps the latest change per stop.",
           "Local database schema", "Sync queue with retries",
           "Conflict rule: latest change wins", "Banner showing unsynced items")),
    ("task-ph-push", "task", "Push notifications for class reminders",
     _task("Send a reminder two hours before each booked class through APNs and FCM, with a "
           "quiet-hours setting and a one-tap cancel action while the cancellation window is "
           "still open.",
           "Notification permission prompt after the first booking", "Scheduler job",
           "Quiet hours setting")),
    ("task-ph-appreview", "task", "Respond to the App Store rejection",
     _task("Apple rejected build 1.3 under guideline 3.1.1, saying class packs must use "
           "in-app purchase. Classes are attended in person, so guideline 3.1.3(e) allows "
           "outside payment. Reply in Resolution Center with screenshots of the studio "
           "timetable.",
           "Draft the reply citing 3.1.3(e)", "Screenshots", "Resubmit as build 1.3.1")),
    ("task-ph-camera", "task", "Crash on Android 14 when opening the camera",
     _task("The proof-of-delivery photo screen crashes on Pixel 8 and Galaxy S24 devices. "
           "Android 14 requires the new partial media permission; our camera library still "
           "asks for the old storage permission.",
           "Reproduce on an Android 14 emulator", "Upgrade the camera library",
           "Update the permission request", "Crash-free rate above 99.5%")),
    ("task-ph-signature", "task", "Capture the recipient's signature",
     _task("Signature pad on the proof-of-delivery screen; store the signature as SVG with "
           "the time and GPS position. If the recipient cannot sign, the courier records the "
           "reason.",
           "Signature pad component", "Store with timestamp and location",
           "'Unable to sign' reasons")),
    ("task-ph-battery", "task", "Reduce battery drain from location tracking",
     _task("Tracking the courier's GPS every 5 seconds drains about 20% of the battery an "
           "hour. Switch to significant-location-change updates plus geofences around each "
           "stop; full accuracy only near a stop.",
           "Measure drain on three devices", "Geofence per stop", "Compare ETA accuracy")),
    ("task-ph-darkmode", "task", "Dark mode for the yoga app",
     _task("Follow the system appearance: a dark palette for the timetable and booking "
           "screens, checked for contrast in both themes.",
           "Dark colour tokens", "Test every screen", "Setting to override the system")),
    ("task-ph-welsh", "task", "Welsh translation of the booking app",
     _task("Tidal's Cardiff studios want the app in Welsh as well as English. Extract all "
           "strings, send them to a translator, and add a switch in settings.",
           "String extraction", "Translator brief", "Switch in settings",
           "Review by Cardiff staff")),
    ("task-ph-bluetooth", "task", "Bluetooth unlock fails in car parks",
     _task("Some FleetPal vans don't unlock in multi-storey car parks: the app waits for the "
           "server before sending the Bluetooth command. Cache a signed unlock token on the "
           "phone for the booking so that it works without a connection.",
           "Signed offline token", "Token expires at the end of the booking",
           "Test in a basement car park")),
    ("message-ph-testflight", "message", "#tidal-yoga-app",
     "Build 1.4.2 is on TestFlight for everyone in the studio team. Please test the "
     "waitlist: joining a full class should give you a position, and you should be booked "
     "automatically when someone cancels."),
    ("message-ph-photos", "message", "#mediroute-courier",
     "MediRoute's lead pharmacist says couriers must never photograph the patient or the "
     "inside of the home, only the parcel on the doorstep. We need a hint on the camera "
     "screen and a note in the training."),
    ("message-ph-release", "message", "#fleetpal-app",
     "FleetPal version 3.2 is live on both stores. Crash-free sessions at 99.7% after 24 "
     "hours; two reports of damage photos uploading twice, investigating."),
    ("message-ph-retro", "message", "#mediroute-courier",
     "Sprint 14 retro notes.\n"
     "Went well: the offline queue shipped without a single lost proof of delivery in the "
     "pilot; pairing on the signature pad with the pharmacist in the room saved a week of "
     "back and forth; the new CI pipeline builds both platforms in 11 minutes instead of "
     "25.\n"
     "Didn't go well: pull requests waited two days on average for a review, so work piled "
     "up at the end of the sprint; the test devices were out of charge on demo day; we "
     "heard about the Android 14 camera crash from a courier rather than from our own "
     "testing.\n"
     "Actions: every pull request gets a first review within one working day, and the "
     "reviewer of the day is on the board; test phones go in the charging cabinet every "
     "evening; Android 14 and iOS 17 devices join the release checklist; Dev writes up how "
     "the sync conflict rule behaves so that support can answer couriers.\n"
     "Next sprint: dispatcher dashboard spike, battery measurements, and the "
     "controlled-drugs handover checklist.\n"
     "Thanks: Kemi for the late fix of the duplicate sync bug before the pilot, and the "
     "pharmacy team for testing on their own phones."),
    ("feedback-ph-cancel", "feedback", "Feedback from Tidal Yoga",
     "Booking is lovely and quick. But members can't find how to cancel a class, so they "
     "email the studio instead and we end up doing it by hand."),
    ("feedback-ph-dispatch", "feedback", "Feedback from MediRoute",
     "Couriers like the new route screen. Our dispatchers still can't see where everyone is, "
     "so they phone drivers to ask; live locations for dispatch are the next priority for "
     "us."),
    ("proposal-ph-phase2", "proposal", "Proposal: MediRoute courier app phase two",
     "Offline improvements, route optimisation and a live dispatcher dashboard. Twenty-six "
     "thousand pounds, delivered over ten weeks in five two-week sprints."),
    ("proposal-ph-tidal", "proposal", "Proposal: Tidal Yoga booking app",
     "Design and development of the iOS and Android apps with booking, payments and "
     "waitlists. Forty-four thousand pounds, of which four thousand for discovery workshops; "
     "support after launch at six hundred pounds a month."),
]

_COPPER_SAGE: list[tuple[str, str, str, str]] = [
    ("client-cs-oakbarrel", "client", "Oak Barrel Distillery",
     "Industry: drinks. Craft gin distillery in the Scottish Highlands with a visitor "
     "centre. Sells through specialist shops and the distillery shop; exports to Germany "
     "started this year."),
    ("client-cs-nimbus", "client", "Nimbus Analytics",
     "Industry: B2B software. Data analytics startup of 60 people that just raised a Series "
     "A. Their old logo was made by a founder in an afternoon; they want to look ready for "
     "enterprise buyers."),
    ("client-cs-hearth", "client", "Hearth & Home",
     "Industry: charity. Homelessness charity running two hostels and a day centre in "
     "Leeds. Small budget; trustees approve any spending over £1,000."),
    ("project-cs-nimbus-rebrand", "project", "Nimbus Analytics rebrand",
     "Name check, logo, colour palette, typography, brand guidelines and a refresh of the "
     "marketing website. Launch to coincide with their conference talk in June."),
    ("project-cs-oak-labels", "project", "Oak Barrel gin label redesign",
     "Premium labels for the three gins (Heather, Pine and Sea Buckthorn) with copper foil "
     "and embossing, plus a gift box and a shelf wobbler."),
    ("project-cs-hearth-report", "project", "Hearth & Home annual report",
     "A 24-page annual report showing the year's impact: beds provided, people moved into "
     "homes, volunteer hours. Photographs of residents only with their written consent."),
    ("task-cs-concepts", "task", "Present three logo concepts to Nimbus",
     _task("Three routes: a wordmark, a monogram and an abstract symbol based on overlapping "
           "clouds, each with colour studies and shown on the app, slides and merchandise.",
           "Moodboards approved", "Three routes drawn", "Presentation deck",
           "Feedback session booked")),
    ("task-cs-guidelines", "task", "Write the brand guidelines",
     _task("A PDF and a web page explaining how to use Nimbus's identity: logo clear space "
           "and minimum size, colour values in HEX, RGB, CMYK and Pantone, type scale, "
           "photography style and tone of voice, with do's and don'ts.",
           "Logo usage", "Colour values", "Typography", "Tone of voice",
           "Do's and don'ts page")),
    ("task-cs-font", "task", "Buy a web licence for the brand typeface",
     _task("The desktop licence for Söhne does not cover use on websites. Buy a web licence "
           "for 500,000 monthly page views and an app licence for the iOS app.",
           "Confirm page views", "Web licence", "App licence",
           "Store licence files in the brand folder")),
    ("task-cs-proof", "task", "Approve the printer's proof for the gin labels",
     _task("Check the wet proof against the Pantone 7621 C swatch, the foil registration on "
           "the botanical illustration, the embossing depth and the 3 mm bleed before "
           "signing off the run of 20,000 labels.",
           "Colour match under a daylight lamp", "Foil registration", "Barcode scan test",
           "Sign the proof")),
    ("task-cs-trademark", "task", "Trademark search for the Nimbus name and logo",
     _task("Search the UK and EU trademark registers in classes 9 and 42 for conflicting "
           "marks before the rebrand is public; brief the client's lawyer on anything "
           "similar.",
           "UKIPO search", "EUIPO search", "Summary for the lawyer")),
    ("task-cs-consent", "task", "Photography consent for the annual report",
     _task("Everyone photographed for Hearth & Home's report signs a consent form saying "
           "where the photo will appear, and may withdraw before print. Faces of current "
           "residents only with their explicit written agreement.",
           "Consent form approved by the charity", "Signed forms filed",
           "Withdrawal deadline in the schedule")),
    ("task-cs-giftbox", "task", "Gift box dieline for the Heather gin",
     _task("Get the dieline for the gift box from the packaging supplier and lay out the "
           "artwork for the Heather gin box, with the tasting notes on the inside flap.",
           "Dieline from supplier", "Artwork layout", "Tasting notes copy")),
    ("message-cs-foil", "message", "#oak-barrel-labels",
     "The foil on the printer's proof spreads into the thistle illustration by about half a "
     "millimetre. The printer suggests a 0.3 mm trap; I'd rather simplify the linework. "
     "Opinions before Friday?"),
    ("message-cs-teal", "message", "#nimbus-rebrand",
     "Nimbus's CEO turned down the teal in concept B: their biggest competitor uses almost "
     "the same colour. Concept A with the deep blue is now the favourite."),
    ("message-cs-germany", "message", "#oak-barrel-labels",
     "For the German export labels we need the alcohol content, the allergen line and the "
     "importer's address in German; the green dot isn't required any more. The compliance "
     "checker is booked."),
    ("feedback-cs-shelf", "feedback", "Feedback from Oak Barrel Distillery",
     "The new labels look stunning on the shelf. A whisky shop in Edinburgh has reordered "
     "twice in a month and says customers pick the bottle up just for the label."),
    ("feedback-cs-favicon", "feedback", "Feedback from Nimbus Analytics",
     "The team is excited about route A. Sales asked for a simpler version of the symbol "
     "that still works at 16 pixels in the browser tab."),
    ("proposal-cs-hearth", "proposal", "Proposal: Hearth & Home annual report (pro bono)",
     "We will donate the design and art direction time. The charity pays for printing only: "
     "about two thousand one hundred pounds for 1,500 copies on recycled paper."),
    ("proposal-cs-nimbus", "proposal", "Proposal: Nimbus Analytics rebrand",
     "Brand strategy, identity and guidelines for fifty-two thousand pounds; the website "
     "refresh is an option at twenty-four thousand pounds. Payment in three stages."),
    ("proposal-cs-oak", "proposal", "Proposal: Oak Barrel gin label redesign",
     "Background: Oak Barrel's three gins sit on crowded shelves next to bigger brands, and "
     "the current labels, printed digitally on white paper, look homemade beside them. The "
     "distillery wants a premium family of labels that still feels rooted in the Highlands, "
     "ready for the German export launch.\n"
     "Scope: a discovery visit and interviews with the founders; three design routes for the "
     "label family; development of the chosen route across Heather, Pine and Sea Buckthorn; "
     "a gift box and a shelf wobbler; print management with the label printer, including "
     "press checks.\n"
     "Timeline: twelve weeks from the discovery visit to the approved print proof.\n"
     "Fees: design and development nineteen thousand five hundred pounds; print management "
     "two thousand two hundred pounds. Printing is quoted by the printer and invoiced to the "
     "distillery directly.\n"
     "Expenses: travel and accommodation for the discovery visit and the photoshoot at the "
     "distillery are not included in the fees and are billed at cost, estimated at one "
     "thousand four hundred pounds.\n"
     "Terms: fifty percent on signature, fifty percent on approval of the final artwork. "
     "Copyright in the artwork passes to the distillery on full payment."),
]

_LUMEN: list[tuple[str, str, str, str]] = [
    ("client-le-aurora", "client", "Aurora Biotech",
     "Industry: biotechnology. A 400-person company with sales teams across Europe, India "
     "and Africa. Their events team is one person (Claire Dubois), so we handle everything "
     "end to end."),
    ("client-le-riverside", "client", "Riverside Council",
     "Industry: local government. District council running a summer food festival in "
     "Victoria Park. Procurement rules: every supplier over £5,000 needs three quotes."),
    ("client-le-marlow", "client", "Marlow Wedding Collective",
     "Industry: weddings. A group of wedding planners who bring us in for large weddings and "
     "for the production of their annual wedding fair."),
    ("project-le-aurora-sko", "project", "Aurora Biotech sales kickoff",
     "Two-day sales kickoff for 400 Aurora Biotech staff in Lisbon, 3 and 4 February, at a "
     "conference hotel on the river.\n"
     "Day one opens with the CEO's keynote on the year's strategy, followed by the product "
     "roadmap from the chief scientific officer and a customer panel of three hospital "
     "procurement leads. Afternoon: regional breakouts for Europe, India and Africa in six "
     "meeting rooms, each with a facilitator from the client's sales enablement team.\n"
     "Day two is skills training: negotiation, the new pricing model and role-plays with "
     "actors playing hospital buyers. Lunch is a walking lunch in the atrium so that teams "
     "mix. The awards ceremony closes day two before the gala dinner.\n"
     "Logistics: flights booked by our travel partner from 14 cities; airport transfers by "
     "coach on arrival day; a hospitality desk in the lobby from 7:00 to 22:00. "
     "Registration opens eight weeks before, with a form covering passport details, "
     "dietary needs and session choices.\n"
     "Languages: the plenary sessions are in English. Simultaneous interpretation into "
     "French and Portuguese is provided for the keynote and the roadmap session, with two "
     "booths at the back of the hall and headsets for up to 120 listeners; the breakouts "
     "run in each region's working language.\n"
     "Sustainability: no printed agendas (the event app carries the agenda), reusable water "
     "bottles, and a mostly plant-based gala menu.\n"
     "Budget owner on the client side: Claire Dubois. Our lead: Tomás Reis, with two "
     "coordinators on site."),
    ("project-le-festival", "project", "Riverside Summer Food Festival",
     "Two-day festival in Victoria Park: 60 street-food traders, a bar, a live music stage "
     "and a children's area. Expected 15,000 visitors. The council licence, security, first "
     "aid, waste and recycling are ours to arrange."),
    ("task-le-roomblock", "task", "Hotel room block for the kickoff",
     _task("380 rooms for two nights at the conference hotel in Lisbon. The contract lets us "
           "release up to 20% of the rooms without penalty until 60 days before arrival; "
           "after that we pay for empty rooms.",
           "Rooming list template", "Release date in the calendar",
           "Weekly pick-up report")),
    ("task-le-dietary", "task", "Collect dietary requirements for the gala dinner",
     _task("Ask every attendee about vegetarian, vegan, halal and kosher meals and allergies "
           "in the registration form; the caterer needs final numbers by 1 October.",
           "Question in the registration form", "Chase missing answers",
           "Send numbers to the caterer", "Allergy cards for the tables")),
    ("task-le-visa", "task", "Visa invitation letters",
     _task("About 30 attendees from India and Nigeria need Schengen visas for Portugal. Send "
           "each an invitation letter on the hotel's letterhead with the dates and the "
           "company's guarantee; appointments can take six weeks.",
           "List of attendees needing visas", "Letter template", "Track appointments")),
    ("task-le-licence", "task", "Temporary event notice for the bar",
     _task("The bar at the food festival needs a licence to sell alcohol. Submit the "
           "Temporary Event Notice to the council at least ten working days before, naming a "
           "personal licence holder.",
           "Named personal licence holder", "Submit the notice", "Challenge 25 signage")),
    ("task-le-toilets", "task", "Portable toilets and handwashing",
     _task("One toilet per 100 visitors at peak plus accessible units, urinals near the bar "
           "and handwashing stations by the food area; serviced twice a day.",
           "Supplier quotes (three, council rules)", "Layout on the site plan",
           "Servicing schedule")),
    ("task-le-weather", "task", "Wet-weather plan",
     _task("If heavy rain is forecast, add two marquees, lay ground matting on the main "
           "walkways and move the music stage under cover. Go/no-go decision at 7:00 on the "
           "day using the Met Office forecast.",
           "Marquee supplier on standby", "Trackway matting quote",
           "Decision tree shared with the council")),
    ("task-le-firstaid", "task", "Book medical cover",
     _task("St John Ambulance: a treatment tent, two ambulances and four roaming responders "
           "for both days, sized on the event's risk assessment.",
           "Risk assessment score", "Booking confirmed", "Location on the site plan")),
    ("task-le-av", "task", "Stage and AV for the keynote",
     _task("LED wall of 8 by 4.5 m, two lapel microphones and a handheld, a confidence "
           "monitor for the speaker and a clicker; the CEO rehearses the evening before.",
           "Content in 16:9", "Rehearsal slot", "Backup laptop")),
    ("task-le-security", "task", "Security and stewarding",
     _task("SIA-licensed security at the two entrances and the bar, stewards for the car "
           "park, and an evacuation plan agreed with the council's safety advisory group.",
           "Security company booked", "Steward briefing", "Evacuation plan signed off")),
    ("message-le-coaches", "message", "#aurora-sko",
     "Change of plan: the gala dinner moves from the hotel ballroom to a riverside "
     "restaurant in Belém. Eight coaches leave the hotel at 19:00 and return from 23:30."),
    ("message-le-traders", "message", "#food-festival",
     "Two traders have pulled out: the paella van and the Korean barbecue. We have five on "
     "the waiting list; I'll offer the pitches to the dumpling stall and the vegan burger "
     "van first."),
    ("message-le-fair", "message", "#marlow-fair",
     "Wedding fair floor plan v3 is in the shared folder: 48 exhibitor stands, a catwalk in "
     "the centre, the cake-tasting zone by the windows."),
    ("feedback-le-queues", "feedback", "Feedback from Riverside Council",
     "The festival was a success overall, but queues at the entrance reached 40 minutes "
     "around noon on Saturday. Next year we need more gates and more bag-check staff."),
    ("feedback-le-flights", "feedback", "Feedback from Aurora Biotech",
     "The breakout sessions were the best we've had. Flights were booked too late for the "
     "Lagos team, which meant two overnight connections; please start travel earlier next "
     "year."),
    ("proposal-le-aurora", "proposal", "Proposal: Aurora Biotech sales kickoff management",
     "Management fee of forty-two thousand euros. Venue, hotel, flights and catering are "
     "passed through at cost, estimated at three hundred and ten thousand euros, with a "
     "contingency of five percent."),
    ("proposal-le-festival", "proposal", "Proposal: Riverside Summer Food Festival production",
     "Production and on-site management for twenty-eight thousand pounds; suppliers are "
     "contracted by the council directly. Trader pitch fees go to the council."),
]

ANCHORS: tuple[Document, ...] = tuple(
    Document(*row) for row in (*_NORTHWIND, *_BRIGHTLINE, *_PIXEL_HARBOR, *_COPPER_SAGE,
                               *_LUMEN))


# --- Questions ---------------------------------------------------------------------------

_QUESTIONS: list[tuple[str, tuple[str, ...], str]] = [
    # Northwind (web)
    ("Which task deals with the bakery's HTTPS about to lapse?",
     ("task-nw-tls",), "paraphrase"),
    ("Is someone making sure the bakery doesn't lose its web address?",
     ("task-nw-domain",), "paraphrase"),
    ("How do we stop links to the old bike shop pages from breaking after the move?",
     ("task-nw-redirects", "project-nw-velocity-migration"), "paraphrase"),
    ("What extra step protects the law firm's customers when they log in?",
     ("task-nw-2fa", "project-nw-alder-portal"), "paraphrase"),
    ("Do we ask visitors' permission before tracking them on the cake shop site?",
     ("task-nw-cookies",), "paraphrase"),
    ("The bicycle store is sluggish on phones, is anyone working on it?",
     ("task-nw-vitals",), "paraphrase"),
    ("Can someone who is blind use the solicitors' portal?",
     ("task-nw-a11y",), "paraphrase"),
    ("If the portal's data got wiped, how would we get it back?",
     ("task-nw-backups",), "paraphrase"),
    ("Where can the bakery owner preview product pages before they go live?",
     ("task-nw-staging",), "lexical"),
    ("How will clients put their name to contracts without printing them?",
     ("task-nw-esign",), "paraphrase"),
    ("Will anyone be alerted if the cake shop's website stops responding in the middle of "
     "the night?", ("task-nw-launch",), "paraphrase"),
    ("Why did purchases on the bakery's site stop completing?",
     ("message-nw-stripe",), "paraphrase"),
    ("When does the bakery need its festive range on sale?",
     ("message-nw-christmas",), "paraphrase"),
    ("What is the cut-over plan for the Shopify switch?",
     ("message-nw-cutover",), "lexical"),
    ("Did the law firm mention any trouble attaching big scans?",
     ("feedback-nw-upload",), "paraphrase"),
    ("How did the cycling retailer's takings do after the new shop went live?",
     ("feedback-nw-velocity",), "paraphrase"),
    ("How much are we charging the cycle retailer to move their online shop?",
     ("proposal-nw-velocity",), "paraphrase"),
    ("What is the monthly hosting and support cost in the Alder & Finch portal proposal?",
     ("proposal-nw-portal",), "lexical"),
    ("Who is the practice manager at Alder & Finch Solicitors?",
     ("client-nw-alder-finch",), "lexical"),
    # Brightline (marketing, SEO)
    ("Are we trying two versions of the email heading to see which one more people read?",
     ("task-bl-ab-subject",), "paraphrase"),
    ("How will analytics tell which link each new gym member came through?",
     ("task-bl-utm",), "paraphrase"),
    ("Which social media cooks are we hoping will promote the organic grocer?",
     ("task-bl-influencers",), "paraphrase"),
    ("Who has to OK the home-loan ads before they are published?",
     ("task-bl-compliance", "client-bl-coastal"), "paraphrase"),
    ("Which keywords should the mortgage pages target?",
     ("task-bl-keywords",), "lexical"),
    ("The credit union's branch times are wrong on maps, who is fixing that?",
     ("task-bl-gbp",), "paraphrase"),
    ("Are we doing backlink outreach for the savings guides?",
     ("task-bl-backlinks",), "lexical"),
    ("Is the gym burning through its Facebook advertising money too fast?",
     ("task-bl-pacing",), "paraphrase"),
    ("Are any of the credit union's pages pulling in files over an unencrypted connection?",
     ("task-bl-tech-audit",), "paraphrase"),
    ("Can search engines read the interest figures on the home-loan pages?",
     ("task-bl-tech-audit",), "paraphrase"),
    ("Why was the produce filming pushed back?",
     ("message-bl-hail",), "paraphrase"),
    ("The gym's discount got shared publicly, what are we doing about it?",
     ("message-bl-code",), "paraphrase"),
    ("Which platform is the worst value for winning gym joiners?",
     ("message-bl-weekly",), "paraphrase"),
    ("Are any of the gym's locations too crowded to keep advertising?",
     ("message-bl-weekly",), "paraphrase"),
    ("Has the home-loan content started to climb in Google?",
     ("message-bl-rankings",), "paraphrase"),
    ("Did the grocer say anything about the wording of the social posts?",
     ("feedback-bl-tone",), "paraphrase"),
    ("What did the credit union think of the monthly SEO report?",
     ("feedback-bl-report",), "lexical"),
    ("How much advertising spend is in the plan for the gym?",
     ("proposal-bl-summit",), "paraphrase"),
    ("What is the notice period of the Coastal SEO retainer?",
     ("proposal-bl-coastal",), "lexical"),
    ("Which organic grocery chain does Tom Reyes work for?",
     ("client-bl-greenleaf",), "lexical"),
    ("Which client measures everything by cost per acquisition?",
     ("client-bl-summit",), "lexical"),
    ("What is the Summit Fitness target for new members and their cost?",
     ("project-bl-summit-newyear",), "lexical"),
    # Pixel Harbor (mobile)
    ("What happens when drivers have no mobile reception underground?",
     ("task-ph-offline",), "paraphrase"),
    ("Will members get a ping on their phone before their session starts?",
     ("task-ph-push",), "paraphrase"),
    ("Why was the iPhone version of the booking app turned down by the store reviewers?",
     ("task-ph-appreview",), "paraphrase"),
    ("The app quits when couriers take a picture of a parcel on newer Google and Samsung "
     "phones", ("task-ph-camera",), "paraphrase"),
    ("What if the patient can't write their name when the medicine arrives?",
     ("task-ph-signature",), "paraphrase"),
    ("Drivers say their phones are flat by lunchtime, is anyone looking at it?",
     ("task-ph-battery",), "paraphrase"),
    ("Can the yoga app switch to a night-time colour scheme?",
     ("task-ph-darkmode",), "paraphrase"),
    ("Will the booking app be offered in a second language?",
     ("task-ph-welsh",), "paraphrase"),
    ("Renters can't open the vehicle when there is no signal, what's the fix?",
     ("task-ph-bluetooth",), "paraphrase"),
    ("Where can I try the latest beta of the yoga app?",
     ("message-ph-testflight",), "paraphrase"),
    ("Are there rules about what drivers may take pictures of at the door?",
     ("message-ph-photos",), "paraphrase"),
    ("What is the crash-free rate of FleetPal version 3.2?",
     ("message-ph-release",), "lexical"),
    ("Did the app team agree anything about how quickly code changes get looked at?",
     ("message-ph-retro",), "paraphrase"),
    ("Did Tidal Yoga report problems with cancelling a class?",
     ("feedback-ph-cancel",), "lexical"),
    ("What does the pharmacy delivery client want from us next?",
     ("feedback-ph-dispatch", "proposal-ph-phase2"), "paraphrase"),
    ("How long will the second stage of the delivery driver app take?",
     ("proposal-ph-phase2",), "paraphrase"),
    ("What does discovery cost in the Tidal Yoga booking app proposal?",
     ("proposal-ph-tidal",), "lexical"),
    ("Which client delivers medicines to people's houses?",
     ("client-ph-mediroute",), "paraphrase"),
    ("Which client rents vans by the hour?",
     ("client-ph-fleetpal",), "lexical"),
    ("What does the MediRoute courier app include for controlled drugs?",
     ("project-ph-courier",), "lexical"),
    # Copper & Sage (branding)
    ("How many logo concepts are we presenting to Nimbus?",
     ("task-cs-concepts",), "lexical"),
    ("Is there a manual telling staff how to apply the startup's new look correctly?",
     ("task-cs-guidelines",), "paraphrase"),
    ("Are we legally allowed to put the chosen font on the website?",
     ("task-cs-font",), "paraphrase"),
    ("Who checks the sample print from the supplier before the bottles' full run?",
     ("task-cs-proof",), "paraphrase"),
    ("Has anyone checked whether another company already owns rights to the startup's "
     "name?", ("task-cs-trademark",), "paraphrase"),
    ("What permission do we need before using pictures of people living in the hostels?",
     ("task-cs-consent", "project-cs-hearth-report"), "paraphrase"),
    ("Where do the tasting notes go on the Heather gin gift box?",
     ("task-cs-giftbox",), "lexical"),
    ("Is there a problem with the metallic finish on the bottle artwork?",
     ("message-cs-foil",), "paraphrase"),
    ("Why was one of the colour options for the analytics company rejected?",
     ("message-cs-teal",), "paraphrase"),
    ("What has to change on the bottles sold abroad?",
     ("message-cs-germany",), "paraphrase"),
    ("Has the spirits maker seen any commercial effect from the new design?",
     ("feedback-cs-shelf",), "paraphrase"),
    ("Did anyone request a favicon-sized mark?",
     ("feedback-cs-favicon",), "paraphrase"),
    ("Are we charging the homelessness charity for our design work?",
     ("proposal-cs-hearth",), "paraphrase"),
    ("What does the optional website refresh cost in the Nimbus rebrand proposal?",
     ("proposal-cs-nimbus",), "lexical"),
    ("Is the trip up to Scotland covered by the fee for the bottle design?",
     ("proposal-cs-oak",), "paraphrase"),
    ("Which of our customers makes spirits?",
     ("client-cs-oakbarrel",), "paraphrase"),
    ("Which client is a homelessness charity in Leeds?",
     ("client-cs-hearth",), "lexical"),
    ("Which tasks and messages are about the foil on the gin label proof?",
     ("task-cs-proof", "message-cs-foil"), "lexical"),
    ("What are the three gins in the Oak Barrel label redesign?",
     ("project-cs-oak-labels", "proposal-cs-oak"), "lexical"),
    # Lumen (events)
    ("Can we give back accommodation if fewer staff come?",
     ("task-le-roomblock",), "paraphrase"),
    ("Do we know who can't eat what at the evening banquet?",
     ("task-le-dietary",), "paraphrase"),
    ("Some employees need travel paperwork to enter Europe, who is sorting it?",
     ("task-le-visa",), "paraphrase"),
    ("Are we permitted to sell beer and wine at the park event?",
     ("task-le-licence",), "paraphrase"),
    ("How many loos are we hiring for the festival?",
     ("task-le-toilets",), "paraphrase"),
    ("What if it pours down on the festival day?",
     ("task-le-weather",), "paraphrase"),
    ("Who is looking after people who get hurt or unwell at the park?",
     ("task-le-firstaid",), "paraphrase"),
    ("Which microphones and LED wall are booked for the keynote?",
     ("task-le-av",), "lexical"),
    ("How are guests getting to the evening dinner venue?",
     ("message-le-coaches",), "paraphrase"),
    ("Did any food vendors drop out?",
     ("message-le-traders",), "paraphrase"),
    ("Where is the latest wedding fair floor plan?",
     ("message-le-fair",), "lexical"),
    ("What went wrong with letting visitors into the park?",
     ("feedback-le-queues",), "paraphrase"),
    ("Did the biotech client complain about air travel?",
     ("feedback-le-flights",), "paraphrase"),
    ("What do we earn for organising the biotech company's conference?",
     ("proposal-le-aurora",), "paraphrase"),
    ("Who keeps the money stallholders pay for their spot?",
     ("proposal-le-festival",), "paraphrase"),
    ("Will attendees who don't speak English be able to follow the opening presentation?",
     ("project-le-aurora-sko",), "paraphrase"),
    ("Is there a paper programme for the Lisbon event?",
     ("project-le-aurora-sko",), "paraphrase"),
    ("How many street-food traders are at the Riverside Summer Food Festival?",
     ("project-le-festival",), "lexical"),
    ("Which client needs three quotes for every supplier over £5,000?",
     ("client-le-riverside",), "lexical"),
    # More questions that share their answer's key terms
    ("Which task renews the TLS certificate with certbot?",
     ("task-nw-tls",), "lexical"),
    ("What did Velocity Bikes say about the size guide pop-up?",
     ("feedback-nw-velocity",), "lexical"),
    ("Who turned down the teal in concept B of the Nimbus rebrand?",
     ("message-cs-teal",), "lexical"),
    ("Until when can we release rooms from the Lisbon hotel room block without penalty?",
     ("task-le-roomblock",), "lexical"),
    ("Which task sends push notifications for class reminders?",
     ("task-ph-push",), "lexical"),
    ("Why did hail move the Greenleaf farm shoot?",
     ("message-bl-hail",), "lexical"),
    ("What medical cover did we book with St John Ambulance?",
     ("task-le-firstaid",), "lexical"),
    ("Who pays for printing the Hearth & Home annual report?",
     ("proposal-cs-hearth",), "lexical"),
    ("What happened to the NEWYOU25 promo code?",
     ("message-bl-code",), "lexical"),
    ("Who needs Schengen visa invitation letters for the kickoff?",
     ("task-le-visa",), "lexical"),
]

# A question's id comes from its text: stable when other questions are added or moved.
QUESTIONS: tuple[Question, ...] = tuple(
    Question("q-" + hashlib.sha256(text.encode()).hexdigest()[:8], text, relevant, style)
    for text, relevant, style in _QUESTIONS)


# --- Filler documents --------------------------------------------------------------------
# Ordinary agency work from pools that stay off the questions' topics.

_EXTRA_CLIENTS: dict[str, list[tuple[str, str, str, str]]] = {
    # agency: (slug, name, notes, project name)
    "nw": [("bramble", "Bramble Tea Rooms",
            "Industry: hospitality. A café and tea room in a market town, open seven days; "
            "the owners write their own menus and want to update the site themselves.",
            "Bramble Tea Rooms website"),
           ("keystone", "Keystone Plumbing",
            "Industry: trades. Plumbing and heating firm with eleven engineers; most work "
            "comes from word of mouth and they want more enquiries for boiler installs.",
            "Keystone Plumbing lead generation site")],
    "bl": [("harbourside", "Harbourside Dental",
            "Industry: healthcare. Private dental practice with four dentists and a "
            "hygienist; wants more patients for implants and Invisalign.",
            "Harbourside Dental patient campaign"),
           ("northgate", "Northgate Shopping Centre",
            "Industry: retail property. Shopping centre with 70 units and a food court; "
            "footfall has not recovered since 2020.",
            "Northgate summer footfall campaign")],
    "ph": [("parkeasy", "ParkEasy",
            "Industry: transport. Runs 40 car parks in the Midlands and wants drivers to pay "
            "by phone instead of at the machines.",
            "ParkEasy payment app"),
           ("studymate", "StudyMate",
            "Industry: education technology. Revision app for secondary school pupils with "
            "quizzes and flashcards; sold to schools per pupil.",
            "StudyMate revision app redesign")],
    "cs": [("fernwood", "Fernwood Skincare",
            "Industry: cosmetics. Small-batch skincare made with plant oils; sold online and "
            "in two department stores.",
            "Fernwood packaging refresh"),
           ("ridgeway", "Ridgeway Architects",
            "Industry: architecture. Practice of 20 architects known for schools and "
            "libraries; the partners want the identity to show their work, not a logo.",
            "Ridgeway Architects identity")],
    "le": [("helix", "Helix Software",
            "Industry: software. Developer tools company holding its first user conference "
            "for 600 customers in Manchester.",
            "Helix user conference"),
           ("rotary", "Bridgewater Rotary Club",
            "Industry: community. Volunteer club raising money for local causes with an "
            "annual charity ball and auction.",
            "Bridgewater charity ball")],
}


def _anchor_projects() -> dict[str, list[tuple[str, str, str]]]:
    """The anchor projects per agency: (project id, client name, project title)."""
    projects: dict[str, list[tuple[str, str, str]]] = {}
    clients = [d for d in ANCHORS if d.kind == "client"]
    for doc in ANCHORS:
        if doc.kind == "project":
            agency = doc.id.split("-")[1]
            client = next(c.title for c in clients if c.id.split("-")[1] == agency
                          and c.title.split()[0] in doc.title)
            projects.setdefault(agency, []).append((doc.id, client, doc.title))
    return projects


# (title, description, checklist) per agency. {client} is filled in.
_TASK_POOLS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "nw": [
        ("Homepage wireframes", "Low-fidelity wireframes for {client}'s homepage: hero, "
         "services, testimonials and contact strip, with two options for the navigation.",
         ("Desktop and mobile layouts", "Review with the client", "Annotate interactions")),
        ("About page copy", "Draft the story of {client}, the team and what makes them "
         "different: about 300 words in a friendly tone.",
         ("Interview notes", "First draft", "Client edits")),
        ("Team photography", "Book a photographer for half a day to shoot portraits of "
         "{client}'s team and premises.",
         ("Shot list", "Book the photographer", "Select and retouch")),
        ("Contact form", "Contact form with name, email, message and a preferred call-back "
         "time; submissions go to {client}'s shared inbox.",
         ("Form fields", "Spam protection", "Test delivery")),
        ("Blog template", "Template for {client}'s news and articles with author, date, "
         "featured image and related posts.", ("Design", "Build", "Sample posts")),
        ("Footer and navigation", "Main menu with at most six items; footer with {client}'s "
         "address, opening times and social links.",
         ("Menu structure", "Footer content", "Mobile menu")),
        ("FAQ section", "Collect the twenty questions {client} answers most often by phone "
         "and write short answers.", ("Gather questions", "Write answers", "Client review")),
        ("Testimonials carousel", "Quotes from {client}'s customers with name and photo; "
         "rotates slowly and can be paused.",
         ("Collect quotes", "Permission to publish", "Build the component")),
        ("CMS training session", "One-hour session showing {client}'s staff how to edit "
         "pages, add news and change images.",
         ("Agenda", "Recording", "Short written guide")),
        ("Style tiles", "Two style tiles with colour, type and button styles to agree "
         "{client}'s visual direction before full designs.",
         ("Tile A", "Tile B", "Decision recorded")),
        ("Content inventory", "List every page of {client}'s current site with its owner and "
         "whether to keep, merge or remove it.",
         ("Export page list", "Owner per page", "Decision per page")),
        ("Launch announcement", "Short email and social post announcing the new website to "
         "{client}'s customers.", ("Copy", "Images", "Schedule")),
    ],
    "bl": [
        ("Content calendar", "Plan {client}'s posts per channel for the next month: themes, "
         "formats and who writes what.", ("Themes", "Formats per channel", "Owners")),
        ("Press release", "Write and distribute a press release about {client}'s campaign to "
         "regional media.", ("Draft", "Client approval", "Media list", "Send and follow up")),
        ("Customer survey", "Ten-question survey for {client}'s customers on awareness and "
         "preferences, with a prize draw as the incentive.",
         ("Questions", "Survey tool set-up", "Prize draw terms")),
        ("Landing page copy", "Headline, benefits, proof and call to action for {client}'s "
         "campaign landing page.", ("Headline options", "Body copy", "Proof points")),
        ("Creative brief", "One-page brief for {client}: objective, audience, single-minded "
         "proposition and mandatories.", ("Objective", "Audience", "Proposition")),
        ("Competitor review", "Review what three of {client}'s competitors published in the "
         "last quarter and what got engagement.",
         ("Pick competitors", "Collect examples", "Summary slide")),
        ("Video cut-downs", "Cut 15-second and 30-second versions of {client}'s hero video, "
         "with subtitles.", ("15-second cut", "30-second cut", "Subtitles")),
        ("Photo library", "Organise {client}'s approved photos in the shared library with "
         "tags and usage rights.", ("Tagging scheme", "Upload", "Usage rights noted")),
        ("Case study", "Write up the results for {client} as a case study for our own "
         "website, with the client's approval.", ("Results", "Quote", "Approval")),
        ("Stakeholder workshop", "Half-day workshop with {client} to agree audience segments "
         "and key messages.", ("Agenda", "Exercises", "Write-up")),
        ("Retargeting audiences", "Build audiences of {client}'s site visitors from the last "
         "30 days, excluding people who already converted.",
         ("Pixel events", "Audience rules", "Exclusions")),
        ("Campaign wrap report", "Summarise what {client}'s campaign delivered against its "
         "goals and what we would do differently.",
         ("Results against goals", "Learnings", "Next steps")),
    ],
    "ph": [
        ("Onboarding screens", "Three welcome screens in {client}'s app explaining the main "
         "benefit; skippable.", ("Copy", "Illustrations", "Skip button")),
        ("Profile screen", "Screen in {client}'s app to edit name, photo and contact "
         "preferences.", ("Design", "Form validation", "Save and undo")),
        ("App icon", "{client}'s icon in every size both stores require, tested on light and "
         "dark wallpapers.", ("Icon sizes", "Wallpaper test", "Export")),
        ("Store listing", "Screenshots, description and promotional text for {client}'s App "
         "Store and Google Play listings.", ("Screenshots", "Description", "Promo text")),
        ("Analytics events", "Define and implement the events for sign-up, the main action "
         "and drop-off points in {client}'s app.",
         ("Event list", "Implementation", "Dashboard")),
        ("API pagination", "{client}'s list endpoints return pages of 50 with a cursor; the "
         "app loads more on scroll.", ("Endpoint change", "Infinite scroll", "Loading state")),
        ("Deep links", "Links from {client}'s emails open the right screen in the app, or the "
         "store if it is not installed.", ("Link scheme", "Routing", "Fallback to store")),
        ("Sprint demo", "Demo of the sprint's finished stories to {client}; record questions "
         "and decisions.", ("Demo script", "Recording", "Decisions log")),
        ("Empty states", "Friendly illustrations and messages for {client}'s screens that "
         "have no data yet.", ("List of empty screens", "Illustrations", "Copy")),
        ("Release notes", "Write the 'what's new' text for {client}'s next store release.",
         ("Changes since last release", "Draft", "Client approval")),
        ("Design system tokens", "Spacing, radius and type tokens shared between {client}'s "
         "design files and the code.", ("Token list", "Export", "Replace hard-coded values")),
        ("Backlog grooming", "Estimate and order the next two sprints of {client}'s backlog "
         "with the product owner.", ("Estimate", "Order", "Sprint goals")),
    ],
    "cs": [
        ("Moodboard", "Collect references for {client}'s imagery, colour and texture in "
         "three directions.", ("Direction one", "Direction two", "Direction three")),
        ("Business cards", "Business card layout in {client}'s new identity; 250 per "
         "person.", ("Layout", "Names and titles", "Print order")),
        ("Email signature", "HTML email signature for {client} with logo and legal line, "
         "tested in Outlook and Gmail.", ("HTML build", "Outlook test", "Install guide")),
        ("Presentation template", "Slide master for {client} with title, section, chart and "
         "quote layouts.", ("Master slides", "Chart styles", "Example deck")),
        ("Social media avatars", "Profile pictures and banners for {client} on LinkedIn and "
         "Instagram in the new style.", ("Avatars", "Banners", "Upload")),
        ("Brand workshop", "Workshop with {client}'s leadership on values, personality and "
         "audience.", ("Agenda", "Exercises", "Summary")),
        ("Icon set", "Thirty line icons in {client}'s brand style for the website and "
         "documents.", ("Icon list", "Drawing", "Export SVG")),
        ("Illustration style", "Test three illustration styles for {client} on one hero "
         "image each.", ("Style A", "Style B", "Style C")),
        ("Signage", "Exterior and reception signage for {client} with the new logo; quotes "
         "from two sign makers.", ("Measurements", "Designs", "Quotes")),
        ("Photography brief", "Brief for a photographer working for {client}: subjects, "
         "lighting, mood and usage.", ("Subjects", "Mood", "Usage")),
        ("Letterhead", "Letterhead and compliment slip templates for {client} in Word and "
         "print-ready PDF.", ("Word template", "Print PDF", "Paper stock")),
        ("Merchandise", "Tote bags, notebooks and stickers in {client}'s new identity for "
         "events.", ("Items", "Supplier quotes", "Artwork")),
    ],
    "le": [
        ("Run of show", "Minute-by-minute schedule of {client}'s event with cues for stage, "
         "lighting and sound.", ("Timings", "Cues", "Distribution")),
        ("Name badges", "Badges for {client}'s guests with name, company and a colour per "
         "track.", ("Data export", "Design", "Print")),
        ("Speaker briefing", "Brief each of {client}'s speakers on timings, stage, slide "
         "format and arrival.", ("Briefing pack", "Calls", "Slide deadline")),
        ("Registration website", "Event page for {client} with agenda and sign-up; "
         "confirmation emails.", ("Page", "Sign-up", "Emails")),
        ("Site visit", "Visit the venue with {client} to check rooms, access and loading "
         "bays.", ("Checklist", "Photos", "Notes")),
        ("Floor plan", "Plan of {client}'s event with stands, stage, catering points and "
         "emergency exits.", ("Draft plan", "Venue approval", "Final plan")),
        ("Supplier contracts", "Collect signed contracts and insurance certificates from all "
         "of {client}'s event suppliers.", ("Contracts", "Insurance", "Filing")),
        ("Signage and wayfinding", "Directional signs from the entrance to each area of "
         "{client}'s event, plus a map board.", ("Sign list", "Design", "Install plan")),
        ("Post-event survey", "Short survey to {client}'s guests the day after: satisfaction, "
         "best session, what to improve.", ("Questions", "Send", "Results summary")),
        ("Photographer and video", "Book an event photographer and a videographer for "
         "{client}'s highlights.", ("Brief", "Booking", "Delivery dates")),
        ("Budget tracker", "Spreadsheet of committed and actual costs per supplier for "
         "{client}, updated weekly.", ("Set up", "Weekly update", "Variance notes")),
        ("Waste and recycling", "Bins for food waste, recycling and general waste at "
         "{client}'s event, with a volunteer team.",
         ("Bin plan", "Volunteers", "Collection booking")),
    ],
}

_PEOPLE = ("Aisha", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hugo", "Isla", "Jonas",
           "Kemi", "Leo", "Maya", "Noah", "Olivia", "Priyanka")
_STATUS = (
    "first draft is in the shared folder, comments welcome by Thursday",
    "waiting on the client's feedback since Monday",
    "approved, moving on to the next step",
    "slipping two days because of the bank holiday",
    "done and filed with the project",
    "half done; I'll pair with {other} tomorrow to finish it",
    "on hold until the client confirms the scope",
    "back from review with small changes only",
)
_FEEDBACK = (
    "Thanks for the {item}. We're happy with the direction; the team would like to see one "
    "more option before deciding.",
    "The {item} arrived on time and needed very few changes. Please send the invoice to our "
    "accounts team.",
    "We liked the {item}, but our managing director is away until the end of the month, so "
    "sign-off will wait until then.",
    "The {item} is fine. Please copy our operations manager on future emails about it.",
    "Great work on the {item}; it was exactly what we described in the first meeting.",
    "We need the {item} a week earlier than planned because of a board meeting.",
)
_PAYMENT_TERMS = (
    "half on signature and half on completion",
    "in three equal instalments",
    "monthly in arrears",
    "thirty percent up front and the rest on delivery",
)


def _number_words(number: int) -> str:
    """An amount as words ("eighteen thousand four hundred"), as proposals write them."""
    ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
    tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety"]

    def below_thousand(n: int) -> str:
        words = []
        if n >= 100:
            words.append(f"{ones[n // 100]} hundred")
            n %= 100
        if n >= 20:
            words.append(tens[n // 10] + (f"-{ones[n % 10]}" if n % 10 else ""))
        elif n or not words:
            words.append(ones[n])
        return " ".join(words)

    thousands, rest = divmod(number, 1000)
    parts = [f"{below_thousand(thousands)} thousand"] if thousands else []
    if rest or not parts:
        parts.append(below_thousand(rest))
    return " ".join(parts)


# Channels of the anchor projects, as the anchor messages name them.
_CHANNELS = {"project-nw-bakery-site": "#bakery-website",
             "project-ph-courier": "#mediroute-courier", "project-ph-yoga": "#tidal-yoga-app",
             "project-ph-fleetpal": "#fleetpal-app", "project-cs-oak-labels": "#oak-barrel-labels",
             "project-le-aurora-sko": "#aurora-sko", "project-le-festival": "#food-festival"}


def _lower(title: str) -> str:
    """A task title inside a sentence: "Contact form" -> "contact form", "FAQ" stays."""
    return title if title[1:2].isupper() else title[0].lower() + title[1:]


def _fill(template: str, client: str) -> str:
    possessive = client + ("'" if client.endswith("s") else "'s")
    return template.replace("{client}'s", possessive).replace("{client}", client)


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _fillers(seed: int = 8) -> list[Document]:
    rng = random.Random(seed)
    anchor_projects = _anchor_projects()
    docs: list[Document] = []
    for agency, pool in _TASK_POOLS.items():
        projects = list(anchor_projects[agency])
        for slug, name, notes, project_title in _EXTRA_CLIENTS[agency]:
            docs.append(Document(f"client-{agency}-{slug}", "client", name, notes))
            project_id = f"project-{agency}-{slug}"
            deliverables = rng.sample(pool, 3)
            docs.append(Document(
                project_id, "project", project_title,
                f"Project for {name}: " + ", ".join(_lower(t[0]) for t in deliverables)
                + ", and the day-to-day work with the client's team."))
            projects.append((project_id, name, project_title))
        for project_id, client, project_title in projects:
            project_slug = project_id.split("-", 2)[2]
            channel = _CHANNELS.get(project_id, f"#{project_slug}")
            chosen = rng.sample(range(len(pool)), 7)
            for index in chosen:
                title, description, checklist = pool[index]
                docs.append(Document(
                    f"task-{agency}-{project_slug}-{_slug(title)}", "task",
                    f"{title}: {client}",
                    _task(_fill(description, client), *checklist)))
            for index in chosen[:3]:
                person, other = rng.sample(_PEOPLE, 2)
                status = rng.choice(_STATUS).format(other=other)
                docs.append(Document(
                    f"message-{agency}-{project_slug}-{_slug(pool[index][0])}", "message",
                    channel, f"{person}: update on the {_lower(pool[index][0])} for "
                    f"{client}: {status}."))
            item = _lower(pool[chosen[3]][0])
            docs.append(Document(
                f"feedback-{agency}-{project_slug}-{_slug(item)}", "feedback",
                f"Feedback from {client}", rng.choice(_FEEDBACK).format(item=item)))
            if not any(d.id.startswith(f"proposal-{agency}-") and client.split()[0] in d.title
                       for d in ANCHORS):
                amount = rng.randrange(6, 61) * 500
                scope = ", ".join(_lower(pool[i][0]) for i in chosen[:4])
                docs.append(Document(
                    f"proposal-{agency}-{project_slug}", "proposal",
                    f"Proposal: {project_title}",
                    f"Scope: {scope}. Fee of {_number_words(amount)} pounds, paid "
                    f"{rng.choice(_PAYMENT_TERMS)}. Valid for thirty days."))
    return docs


DOCUMENTS: tuple[Document, ...] = (*ANCHORS, *_fillers())


def documents() -> tuple[Document, ...]:
    return DOCUMENTS


def questions() -> tuple[Question, ...]:
    return QUESTIONS


if __name__ == "__main__":  # a summary of the set, to look at while editing it
    from collections import Counter

    print(f"{len(DOCUMENTS)} documents: {dict(Counter(d.kind for d in DOCUMENTS))}")
    print(f"{len(QUESTIONS)} questions: {dict(Counter(q.style for q in QUESTIONS))}")
