"""Write demo/community-resilience-toolkit.docx, the toolkit `make run` ingests.

Run with the project's virtualenv: .venv/bin/python demo/make_demo_toolkit.py
The .docx is committed; this script is how it was made (python-docx, Word's default styles). It
stands alone, so that nothing the tests' own .docx builder learns changes the demo.
"""

from pathlib import Path

import docx

OUT = Path(__file__).resolve().parent / "community-resilience-toolkit.docx"

SECTIONS = [
    ("h1", "1 Introduction"),
    (
        "p",
        "This toolkit helps neighbourhood groups, small charities and parish councils prepare for "
        "emergencies such as flooding, heatwaves, power cuts and severe winter weather. It sets out how "
        "to build a community emergency plan, who should be involved, and how to keep the plan alive "
        "once it is written.",
    ),
    ("h2", "1.1 Who this toolkit is for"),
    (
        "p",
        "It is written for volunteers and coordinators with no formal emergency-planning training. "
        "Local authority resilience officers may also use it when supporting community groups.",
    ),
    ("h2", "1.2 How to use this toolkit"),
    (
        "p",
        "Work through the sections in order the first time. Later, use the checklists in section 6 "
        "to review the plan every year and after every incident or exercise.",
    ),
    ("h1", "2 Understanding local risks"),
    (
        "p",
        "Start from the local risk register published by your Local Resilience Forum. It lists the "
        "hazards most likely to affect your area and how severe their impact could be.",
    ),
    ("h2", "2.1 Mapping hazards"),
    (
        "p",
        "Walk the neighbourhood with a printed map. Mark streets that flood, roads that ice over, "
        "buildings without backup power and places where people gather.",
    ),
    ("bullet", "Flood zones and drainage points that block with leaves"),
    ("bullet", "Steep or untreated roads that become impassable in snow"),
    ("bullet", "Homes of people who depend on powered medical equipment"),
    ("h2", "2.2 Identifying vulnerable residents"),
    (
        "p",
        "Some residents need extra help in an emergency: older people living alone, disabled people, "
        "families with very young children and people who do not speak English well. Never build a "
        "list of named individuals without their consent; instead, invite people to register with "
        "the group and record only what is needed to help them, stored securely.",
    ),
    ("h1", "3 Building the team"),
    (
        "p",
        "A plan needs people. Aim for a coordinator, a deputy, and a small group of volunteers with "
        "clear roles, so that the plan does not depend on one person.",
    ),
    ("h2", "3.1 Roles and responsibilities"),
    (
        "table",
        [
            ["Role", "Responsibility", "Suggested person"],
            [
                "Coordinator",
                "Activates the plan and liaises with the emergency services",
                "Chair of the group",
            ],
            ["Deputy coordinator", "Takes over when the coordinator is unavailable", "Committee member"],
            [
                "Communications lead",
                "Runs the phone tree and social media updates",
                "Volunteer with a smartphone",
            ],
            [
                "Welfare lead",
                "Checks on vulnerable residents and the rest centre",
                "First-aid trained volunteer",
            ],
            ["Logistics lead", "Looks after the equipment store and keys", "Caretaker or key holder"],
        ],
    ),
    ("h2", "3.2 Recruiting and keeping volunteers"),
    (
        "p",
        "Recruit through existing networks: faith groups, schools, allotment societies and resident "
        "associations. Keep volunteers engaged with a short meeting twice a year and one exercise a "
        "year. Thank them publicly.",
    ),
    ("h1", "4 Writing the emergency plan"),
    (
        "p",
        "Keep the plan short enough to be read in an emergency: ideally no more than eight pages. "
        "Put contact details in an appendix so they can be updated without reprinting the plan.",
    ),
    ("h2", "4.1 Activation triggers"),
    (
        "p",
        "Agree in advance what starts the plan: a severe weather warning from the Met Office, a "
        "request from the local authority, or a coordinator's judgement that residents need help.",
    ),
    ("number", "Coordinator receives a warning or request"),
    ("number", "Coordinator calls the deputy and the communications lead"),
    ("number", "Communications lead starts the phone tree"),
    ("number", "Welfare lead begins checks on registered residents"),
    ("h2", "4.2 Community rest centre"),
    (
        "p",
        "Identify a building that can shelter residents for a few hours: a village hall, school or "
        "place of worship. Agree access arrangements with the key holder in writing, and check that "
        "the building has heating, toilets, accessible entrances and, ideally, a backup generator.",
    ),
    ("h2", "4.3 Budget"),
    (
        "p",
        "Most community plans cost little. Typical costs are an equipment store, printed leaflets, "
        "high-visibility vests, torches and a first-aid kit. The treasurer reviews the budget every "
        "quarter and reports to the committee; apply to the local authority's community resilience "
        "fund for start-up costs.",
    ),
    (
        "table",
        [
            ["Item", "Typical cost", "Notes"],
            ["Equipment store", "£150 a year", "Lockable cupboard in the village hall"],
            ["Torches and batteries", "£60", "Check batteries every six months"],
            ["High-visibility vests", "£40", "One per volunteer"],
            ["Leaflets", "£80", "Reprint after each annual review"],
        ],
    ),
    ("h1", "5 Communicating in an emergency"),
    (
        "p",
        "Mobile networks and power may fail. Use several channels: a phone tree with landline "
        "numbers, door knocking, notices at the shop and rest centre, and local radio.",
    ),
    ("h2", "5.1 The phone tree"),
    (
        "p",
        "Each volunteer calls three to five households and reports back to the communications lead. "
        "Test the tree twice a year; record who could not be reached and why.",
    ),
    ("h2", "5.2 Working with the emergency services"),
    (
        "p",
        "Always call 999 when life is at risk. The community group supports, and never replaces, "
        "the emergency services: share local knowledge, such as which residents need help, when "
        "asked, and follow their instructions at an incident.",
    ),
    ("h1", "6 Keeping the plan alive"),
    ("p", "A plan that is not practised will not work. Review it every year and after every activation."),
    ("h2", "6.1 Annual review checklist"),
    ("bullet", "Update contact details and the list of registered residents"),
    ("bullet", "Check the equipment store and replace expired items"),
    ("bullet", "Confirm access arrangements for the rest centre"),
    ("bullet", "Run one exercise, such as a phone tree test or a table-top flood scenario"),
    ("h2", "6.2 Learning from incidents"),
    (
        "p",
        "After any activation, hold a short debrief within two weeks. Ask what worked, what did not, "
        "and what should change. Record the actions, give each an owner and a date, and update the plan.",
    ),
    ("h1", "7 Safeguarding and data protection"),
    (
        "p",
        "Volunteers who visit vulnerable residents should have a basic DBS check where the role "
        "requires it, work in pairs where possible, and carry identification. Personal data collected "
        "for the plan must be kept securely, shared only with those who need it, and deleted when a "
        "resident asks or leaves the area.",
    ),
]


def build(path: Path = OUT) -> Path:
    """Write SECTIONS as Word headings, paragraphs, lists and grid tables."""
    document = docx.Document()
    document.core_properties.title = "Community Resilience Toolkit"
    styles = {"p": None, "bullet": "List Bullet", "number": "List Number"}
    for kind, content in SECTIONS:
        if kind.startswith("h"):
            document.add_heading(content, level=int(kind[1:]))
        elif kind == "table":
            table = document.add_table(rows=len(content), cols=len(content[0]))
            table.style = "Table Grid"
            for r, row in enumerate(content):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        else:
            document.add_paragraph(content, style=styles[kind])
    document.save(path)
    return path


if __name__ == "__main__":
    print(build())
