-- Synthetic clinic dataset for the embedded demo: invented people, no real PHI.
CREATE TABLE patients (
  id serial PRIMARY KEY,
  name text NOT NULL,
  ssn text NOT NULL,
  dob date NOT NULL,
  email text,
  diagnosis text,
  created_at timestamptz NOT NULL DEFAULT '2026-01-05 09:00:00+00'
);
CREATE TABLE visits (
  id serial PRIMARY KEY,
  patient_id int NOT NULL REFERENCES patients(id),
  visit_date date NOT NULL,
  reason text,
  notes text
);
INSERT INTO patients (name, ssn, dob, email, diagnosis) VALUES
  ('Ada Lovelace',      '123-45-6789', '1815-12-10', 'ada@example.org',     'J45.909 asthma'),
  ('Alan Turing',       '234-56-7890', '1912-06-23', 'alan@example.org',    'E11.9 type 2 diabetes'),
  ('Grace Hopper',      '345-67-8901', '1906-12-09', 'grace@example.org',   'I10 hypertension'),
  ('Edsger Dijkstra',   '456-78-9012', '1930-05-11', 'edsger@example.org',  'M54.5 low back pain'),
  ('Barbara Liskov',    '567-89-0123', '1939-11-07', 'barbara@example.org', 'J06.9 upper respiratory infection'),
  ('Donald Knuth',      '678-90-1234', '1938-01-10', 'don@example.org',     'H52.4 presbyopia');
INSERT INTO visits (patient_id, visit_date, reason, notes) VALUES
  (1, '2026-01-05', 'follow-up', 'inhaler refilled'),
  (2, '2026-01-06', 'lab review', 'HbA1c 7.1'),
  (3, '2026-01-07', 'blood pressure', '138/88'),
  (1, '2026-02-02', 'annual', 'all good'),
  (5, '2026-02-03', 'cough', 'rest and fluids'),
  (6, '2026-02-04', 'eye exam', 'new glasses');
