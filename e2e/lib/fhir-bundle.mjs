// A deterministic FHIR R4 collection Bundle for one fictional patient, for the import tests and the
// import benchmark: `makeBundle({ resources: 500, seed: 1 })` returns the same Bundle for the same
// arguments on every machine (a seeded PRNG, never Math.random or the clock).
//
// Exactly `resources` entries: 1 Patient and, in proportion, Encounters (~6%), Conditions (~5%),
// vital-sign Observations (~50%: body weight, body height, blood pressure panel with systolic and
// diastolic components, heart rate, in sets spread over ten years, some at encounters), laboratory
// Observations (~20%: HbA1c, creatinine, fasting glucose, potassium, LDL), a few
// AllergyIntolerances (criticality high and low), MedicationStatements and MedicationRequests
// (~5%, RxNorm), Immunizations (~5%, CVX), Procedures (~3%, SNOMED CT) and DiagnosticReports
// (~3%, lab, each listing the lab Observations of one draw in `result`). fullUrls are urn:uuid:
// with uuids from the PRNG, and every reference resolves within the Bundle.
//
// CLI: node e2e/lib/fhir-bundle.mjs [RESOURCES=500] [SEED=1] > bundle.json
// Check one with the independent validator: .venv-fhir/bin/python scripts/fhir_validate.py FILE
import { pathToFileURL } from "node:url";

const LOINC = "http://loinc.org";
const SNOMED = "http://snomed.info/sct";
const ICD10 = "http://hl7.org/fhir/sid/icd-10-cm";
const RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
const CVX = "http://hl7.org/fhir/sid/cvx";
const UCUM = "http://unitsofmeasure.org";
const US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/";
const OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category";

// mulberry32: a small 32-bit PRNG, plenty for test data.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  const pick = (list) => list[Math.floor(next() * list.length)];
  const round = (x, digits) => Number(x.toFixed(digits));
  // RFC 4122 version-4 layout, bytes from the PRNG.
  const uuid = () => {
    const b = Array.from({ length: 16 }, () => Math.floor(next() * 256));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = b.map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  return { next, int, pick, round, uuid };
}

const coding = (system, code, display) => ({ system, code, display });
const concept = (system, code, display, text) => ({ coding: [coding(system, code, display)], ...(text ? { text } : {}) });
const quantity = (value, unit, code = unit) => ({ value, unit, system: UCUM, code });
const category = (code, display) => [{ coding: [coding(OBS_CATEGORY, code, display)] }];

const CONDITIONS = [
  ["44054006", "Diabetes mellitus type 2 (disorder)", "E11.9", "Type 2 diabetes mellitus without complications"],
  ["59621000", "Essential hypertension (disorder)", "I10", "Essential (primary) hypertension"],
  ["55822004", "Hyperlipidemia (disorder)", "E78.5", "Hyperlipidemia, unspecified"],
  ["195967001", "Asthma (disorder)", "J45.909", "Unspecified asthma, uncomplicated"],
  ["35489007", "Depressive disorder (disorder)", "F32.A", "Depression, unspecified"],
  ["40055000", "Chronic sinusitis (disorder)", "J32.9", "Chronic sinusitis, unspecified"],
  ["239873007", "Osteoarthritis of knee (disorder)", "M17.9", "Osteoarthritis of knee, unspecified"],
  ["68566005", "Urinary tract infectious disease (disorder)", "N39.0", "Urinary tract infection, site not specified"],
  ["444814009", "Viral sinusitis (disorder)", "J01.90", "Acute sinusitis, unspecified"],
  ["271737000", "Anemia (disorder)", "D64.9", "Anemia, unspecified"],
];
const MEDICATIONS = [
  ["861007", "metformin hydrochloride 500 MG Oral Tablet", "500 mg twice daily with meals", 2],
  ["314076", "lisinopril 10 MG Oral Tablet", "10 mg once daily", 1],
  ["617312", "atorvastatin calcium 20 MG Oral Tablet", "20 mg at bedtime", 1],
  ["243670", "aspirin 81 MG Oral Tablet", "81 mg once daily", 1],
  ["197361", "amlodipine 5 MG Oral Tablet", "5 mg once daily", 1],
  ["310798", "hydrochlorothiazide 25 MG Oral Tablet", "25 mg every morning", 1],
  ["312938", "sertraline 50 MG Oral Tablet", "50 mg once daily", 1],
  ["198211", "simvastatin 40 MG Oral Tablet", "40 mg at bedtime", 1],
];
const VACCINES = [
  ["158", "influenza, injectable, quadrivalent, contains preservative"],
  ["208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose"],
  ["115", "Tdap"],
  ["133", "Pneumococcal conjugate PCV 13"],
  ["43", "Hep B, adult"],
  ["187", "zoster vaccine recombinant"],
];
const PROCEDURES = [
  ["73761001", "Colonoscopy (procedure)"],
  ["80146002", "Excision of appendix (procedure)"],
  ["274025005", "Colonic polypectomy (procedure)"],
  ["430193006", "Medication reconciliation (procedure)"],
  ["183452005", "Emergency hospital admission (procedure)"],
  ["71651007", "Mammography (procedure)"],
];
const ALLERGIES = [
  [RXNORM, "7980", "Penicillin G", "allergy", "medication", "high", ["39579001", "Anaphylaxis (disorder)"]],
  [SNOMED, "256259004", "Pollen (substance)", "allergy", "environment", "low", ["76067001", "Sneezing (finding)"]],
  [SNOMED, "762952008", "Peanut (substance)", "allergy", "food", "high", ["247472004", "Wheal (finding)"]],
  [SNOMED, "227493005", "Cashew nut (substance)", "allergy", "food", "low", ["271807003", "Eruption of skin (disorder)"]],
  [SNOMED, "111088007", "Latex (substance)", "allergy", "environment", "high", ["40275004", "Contact dermatitis (disorder)"]],
  [RXNORM, "2670", "Codeine", "intolerance", "medication", "low", ["422587007", "Nausea (finding)"]],
];
// [code, display, unit (UCUM), mean, spread, digits, reference low, reference high]
const LABS = [
  ["4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 6.9, 0.8, 1, null, 5.6],
  ["2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.95, 0.2, 2, 0.57, 1.0],
  ["1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "mg/dL", 118, 20, 0, 70, 99],
  ["2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 4.3, 0.4, 1, 3.5, 5.2],
  ["13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL", 112, 25, 0, null, 100],
];

const DAY_MS = 86_400_000;
const START_MS = Date.UTC(2014, 0, 6, 14, 0, 0); // a fixed start: no clock is read

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * @param {{resources?: number, seed?: number}} [options]
 * @returns {object} a FHIR R4 Bundle of type collection with exactly `resources` entries
 */
export function makeBundle({ resources = 500, seed = 1 } = {}) {
  if (!Number.isInteger(resources) || resources < 20) throw new RangeError("resources must be an integer >= 20");
  if (!Number.isInteger(seed)) throw new RangeError("seed must be an integer");
  const r = prng(seed);
  const entries = [];
  const add = (resource) => {
    const id = r.uuid();
    resource.id = id;
    entries.push({ fullUrl: `urn:uuid:${id}`, resource });
    return { reference: `urn:uuid:${id}` };
  };

  const n = {
    encounter: Math.max(1, Math.round(resources * 0.06)),
    condition: Math.max(1, Math.round(resources * 0.05)),
    lab: Math.max(2, Math.round(resources * 0.2)),
    allergy: Math.min(ALLERGIES.length, Math.max(2, Math.round(resources / 800) + 2)),
    medication: Math.max(2, Math.round(resources * 0.05)),
    immunization: Math.max(1, Math.round(resources * 0.05)),
    procedure: Math.max(1, Math.round(resources * 0.03)),
    report: Math.max(1, Math.round(resources * 0.03)),
  };
  const vitals = resources - 1 - Object.values(n).reduce((a, b) => a + b, 0);

  // The patient.
  const given = r.pick(["Jordan", "Avery", "Morgan", "Riley", "Casey", "Quinn"]);
  const family = r.pick(["Halvorsen", "Okafor", "Marchetti", "Nakamura", "Delacroix", "Brennan"]);
  const gender = r.pick(["female", "male"]);
  const birthYear = r.int(1950, 1990);
  const patient = add({
    resourceType: "Patient",
    meta: { profile: [`${US_CORE}us-core-patient`] },
    extension: [
      {
        url: `${US_CORE}us-core-race`,
        extension: [
          { url: "ombCategory", valueCoding: coding("urn:oid:2.16.840.1.113883.6.238", "2106-3", "White") },
          { url: "text", valueString: "White" },
        ],
      },
      {
        url: `${US_CORE}us-core-ethnicity`,
        extension: [
          { url: "ombCategory", valueCoding: coding("urn:oid:2.16.840.1.113883.6.238", "2186-5", "Not Hispanic or Latino") },
          { url: "text", valueString: "Not Hispanic or Latino" },
        ],
      },
    ],
    identifier: [
      {
        type: concept("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
        system: "http://hospital.example.org/mrn",
        value: `MRN-${String(r.int(0, 9_999_999)).padStart(7, "0")}`,
      },
      { system: "https://payer.example.com/member", value: `M${r.int(100_000, 999_999)}` },
    ],
    name: [{ use: "official", family, given: [given] }],
    gender,
    birthDate: `${birthYear}-${String(r.int(1, 12)).padStart(2, "0")}-${String(r.int(1, 28)).padStart(2, "0")}`,
    address: [{ line: [`${r.int(1, 999)} Example Street`], city: "Fairhaven", state: "MA", postalCode: "02719", country: "US" }],
  });
  entries[0].resource.text = {
    status: "generated",
    div: `<div xmlns="http://www.w3.org/1999/xhtml">${given} ${family} (fictional test patient)</div>`,
  };

  // Encounters, spread over ten years in time order: the visits the vitals are taken at.
  const span = 3650 * DAY_MS;
  const visitTimes = Array.from({ length: n.encounter }, () => START_MS + Math.floor(r.next() * span)).sort((a, b) => a - b);
  const visits = visitTimes.map((ms) => {
    const start = Math.floor(ms / 60_000) * 60_000;
    const kind = r.next() < 0.85 ? ["AMB", "ambulatory"] : ["EMER", "emergency"];
    const ref = add({
      resourceType: "Encounter",
      meta: { profile: [`${US_CORE}us-core-encounter`] },
      status: "finished",
      class: coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", kind[0], kind[1]),
      type: [
        kind[0] === "AMB"
          ? concept(SNOMED, "185349003", "Encounter for check up (procedure)")
          : concept(SNOMED, "4525004", "Emergency department patient visit"),
      ],
      subject: patient,
      period: { start: isoSeconds(start), end: isoSeconds(start + r.int(15, 90) * 60_000) },
    });
    return { ms: start, ref };
  });
  const visitAt = (i) => visits[i % visits.length];

  // Conditions: onset dates of several precisions, ICD-10 beside SNOMED CT.
  const conditionRefs = [];
  for (let i = 0; i < n.condition; i++) {
    const [sct, sctName, icd, icdName] = CONDITIONS[i % CONDITIONS.length];
    const onsetMs = START_MS - r.int(0, 3000) * DAY_MS + r.int(0, 3650) * DAY_MS;
    const iso = isoSeconds(onsetMs);
    const precision = r.int(0, 2);
    const resolved = i >= CONDITIONS.length || r.next() < 0.2;
    const res = {
      resourceType: "Condition",
      meta: { profile: [`${US_CORE}us-core-condition`] },
      clinicalStatus: concept("http://terminology.hl7.org/CodeSystem/condition-clinical", resolved ? "resolved" : "active", resolved ? "Resolved" : "Active"),
      verificationStatus: concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
      category: [concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")],
      code: { coding: [coding(SNOMED, sct, sctName), coding(ICD10, icd, icdName)], text: sctName.replace(/ \(disorder\)$/, "") },
      subject: patient,
      onsetDateTime: precision === 0 ? iso.slice(0, 4) : precision === 1 ? iso.slice(0, 7) : iso,
    };
    if (resolved) res.abatementDateTime = isoSeconds(Math.min(onsetMs + r.int(10, 400) * DAY_MS, START_MS + span)).slice(0, 10);
    conditionRefs.push(add(res));
  }

  // Vital signs in sets taken together (weight, blood pressure, heart rate, and height every fourth
  // set): one set at each visit, referencing its Encounter, and the rest home readings without
  // one, spread evenly over the ten years.
  let weight = r.int(600, 950) / 10;
  let systolic = r.int(115, 140);
  const height = r.int(1550, 1900) / 10;
  const vitalProfile = {
    weight: ["http://hl7.org/fhir/StructureDefinition/bodyweight", `${US_CORE}us-core-body-weight`],
    height: ["http://hl7.org/fhir/StructureDefinition/bodyheight", `${US_CORE}us-core-body-height`],
    bp: ["http://hl7.org/fhir/StructureDefinition/bp", `${US_CORE}us-core-blood-pressure`],
    hr: ["http://hl7.org/fhir/StructureDefinition/heartrate", `${US_CORE}us-core-heart-rate`],
  };
  const setCount = Math.ceil(vitals / 3.25);
  const sets = visits.slice(0, setCount).map((visit) => ({ ms: visit.ms + r.int(2, 12) * 60_000, visit }));
  const homeSets = setCount - sets.length;
  for (let i = 0; i < homeSets; i++) {
    sets.push({ ms: START_MS + Math.floor(((i + 0.5) * span) / homeSets) + r.int(6 * 60, 22 * 60) * 60_000, visit: null });
  }
  sets.sort((a, b) => a.ms - b.ms);
  let made = 0;
  for (let set = 0; made < vitals; set++) {
    const { ms, visit } = sets[set % sets.length];
    const kinds = set % 4 === 0 ? ["weight", "bp", "hr", "height"] : ["weight", "bp", "hr"];
    for (const kind of kinds.slice(0, vitals - made)) {
      made++;
      const base = {
        resourceType: "Observation",
        meta: { profile: vitalProfile[kind] },
        status: "final",
        category: category("vital-signs", "Vital Signs"),
        subject: patient,
        ...(visit ? { encounter: visit.ref } : {}),
        effectiveDateTime: isoSeconds(ms),
      };
      if (kind === "weight") {
        weight = Math.min(140, Math.max(45, weight + (r.next() - 0.5) * 2));
        add({ ...base, code: concept(LOINC, "29463-7", "Body weight", "Weight"), valueQuantity: quantity(r.round(weight, 1), "kg") });
      } else if (kind === "height") {
        add({ ...base, code: concept(LOINC, "8302-2", "Body height", "Height"), valueQuantity: quantity(r.round(height + (r.next() - 0.5), 1), "cm") });
      } else if (kind === "bp") {
        systolic = Math.min(170, Math.max(100, systolic + r.int(-6, 6)));
        const diastolic = Math.round(systolic * 0.62 + r.int(-4, 4));
        add({
          ...base,
          code: concept(LOINC, "85354-9", "Blood pressure panel with all children optional", "Blood pressure"),
          component: [
            { code: concept(LOINC, "8480-6", "Systolic blood pressure"), valueQuantity: quantity(systolic, "mm[Hg]") },
            { code: concept(LOINC, "8462-4", "Diastolic blood pressure"), valueQuantity: quantity(diastolic, "mm[Hg]") },
          ],
        });
      } else {
        add({ ...base, code: concept(LOINC, "8867-4", "Heart rate"), valueQuantity: quantity(r.int(55, 95), "beats/minute", "/min") });
      }
    }
  }

  // Laboratory results in panels of LABS.length, drawn a few days before a visit; the reports below
  // each list one panel.
  const draws = [];
  for (let i = 0; i < n.lab; i++) {
    const d = Math.floor(i / LABS.length);
    if (!draws[d]) draws[d] = { ms: visitAt(d * 3 + 1).ms - r.int(1, 5) * DAY_MS, refs: [] };
    const [code, display, unit, mean, spread, digits, low, high] = LABS[i % LABS.length];
    const value = r.round(mean + (r.next() - 0.5) * 2 * spread, digits);
    const range = {};
    if (low !== null) range.low = quantity(low, unit);
    if (high !== null) range.high = quantity(high, unit);
    const interp = high !== null && value > high ? ["H", "High"] : low !== null && value < low ? ["L", "Low"] : ["N", "Normal"];
    draws[d].refs.push(
      add({
        resourceType: "Observation",
        meta: { profile: [`${US_CORE}us-core-observation-lab`] },
        status: "final",
        category: category("laboratory", "Laboratory"),
        code: concept(LOINC, code, display),
        subject: patient,
        effectiveDateTime: isoSeconds(draws[d].ms),
        issued: new Date(draws[d].ms + 6 * 3_600_000).toISOString(),
        valueQuantity: quantity(value, unit),
        interpretation: [concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", interp[0], interp[1])],
        referenceRange: [range],
      }),
    );
  }

  for (let i = 0; i < n.allergy; i++) {
    const [system, code, display, type, cat, criticality, reaction] = ALLERGIES[i];
    add({
      resourceType: "AllergyIntolerance",
      meta: { profile: [`${US_CORE}us-core-allergyintolerance`] },
      clinicalStatus: concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
      verificationStatus: concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"),
      type,
      category: [cat],
      criticality,
      code: concept(system, code, display),
      patient,
      onsetDateTime: String(birthYear + r.int(2, 25)),
      reaction: [{ manifestation: [concept(SNOMED, reaction[0], reaction[1])], severity: criticality === "high" ? "severe" : "mild" }],
    });
  }

  // Medications: requests (with a reason) and statements, alternately.
  for (let i = 0; i < n.medication; i++) {
    const [code, display, text, perDay] = MEDICATIONS[i % MEDICATIONS.length];
    const visit = visitAt(i * 7 + 2);
    const med = concept(RXNORM, code, display);
    if (i % 2 === 0) {
      add({
        resourceType: "MedicationRequest",
        meta: { profile: [`${US_CORE}us-core-medicationrequest`] },
        status: i < MEDICATIONS.length ? "active" : "completed",
        intent: "order",
        medicationCodeableConcept: med,
        subject: patient,
        encounter: visit.ref,
        authoredOn: isoSeconds(visit.ms + 20 * 60_000),
        requester: { display: "Dr. Noor Abbasi" },
        reasonReference: [conditionRefs[i % conditionRefs.length]],
        dosageInstruction: [
          {
            text,
            timing: { repeat: { frequency: perDay, period: 1, periodUnit: "d" } },
            route: concept(SNOMED, "26643006", "Oral route"),
            doseAndRate: [{ doseQuantity: { value: 1, unit: "tablet", system: "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", code: "TAB" } }],
          },
        ],
      });
    } else {
      add({
        resourceType: "MedicationStatement",
        status: i < MEDICATIONS.length ? "active" : "completed",
        medicationCodeableConcept: med,
        subject: patient,
        effectivePeriod: { start: isoSeconds(visit.ms).slice(0, 10) },
        dateAsserted: isoSeconds(visit.ms),
        dosage: [{ text }],
      });
    }
  }

  for (let i = 0; i < n.immunization; i++) {
    const [code, display] = VACCINES[i % VACCINES.length];
    // A step prime to the visit count, so that a vaccine does not fall on the same visit each cycle.
    const visit = visitAt(i * 7 + 3);
    add({
      resourceType: "Immunization",
      meta: { profile: [`${US_CORE}us-core-immunization`] },
      status: "completed",
      vaccineCode: concept(CVX, code, display),
      patient,
      encounter: visit.ref,
      occurrenceDateTime: isoSeconds(visit.ms + 30 * 60_000),
      primarySource: true,
      lotNumber: `LOT-${r.int(10_000, 99_999)}`,
      doseQuantity: quantity(0.5, "mL"),
    });
  }

  for (let i = 0; i < n.procedure; i++) {
    const [code, display] = PROCEDURES[i % PROCEDURES.length];
    const visit = visitAt(i * 11 + 4);
    add({
      resourceType: "Procedure",
      meta: { profile: [`${US_CORE}us-core-procedure`] },
      status: "completed",
      code: concept(SNOMED, code, display),
      subject: patient,
      encounter: visit.ref,
      performedDateTime: isoSeconds(visit.ms + 45 * 60_000),
    });
  }

  // Lab reports: one per draw while there are draws, each listing that draw's Observations.
  for (let i = 0; i < n.report; i++) {
    const draw = draws[i % draws.length];
    add({
      resourceType: "DiagnosticReport",
      meta: { profile: [`${US_CORE}us-core-diagnosticreport-lab`] },
      status: "final",
      category: [concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
      code: concept(LOINC, "24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", "Metabolic panel"),
      subject: patient,
      effectiveDateTime: isoSeconds(draw.ms),
      issued: new Date(draw.ms + 6 * 3_600_000).toISOString(),
      result: draw.refs.map((ref) => ({ ...ref })),
    });
  }

  return {
    resourceType: "Bundle",
    id: `generated-${resources}-${seed}`,
    identifier: { system: "urn:ietf:rfc:3986", value: `urn:uuid:${r.uuid()}` },
    type: "collection",
    timestamp: isoSeconds(START_MS + span + DAY_MS),
    entry: entries,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const resources = Number(process.argv[2] ?? 500);
  const seed = Number(process.argv[3] ?? 1);
  process.stdout.write(`${JSON.stringify(makeBundle({ resources, seed }))}\n`);
}
