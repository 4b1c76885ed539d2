/**
 * Word lists for synthetic personas. They are long on purpose: full-text search benchmarks are only
 * meaningful when documents share a realistic mix of common and rare terms. Order matters for lists picked
 * with `Random.zipf`: earlier entries are drawn far more often.
 */

// prettier-ignore
export const FIRST_NAMES = [
  'James', 'Olivia', 'Jack', 'Charlotte', 'William', 'Amelia', 'Noah', 'Isla', 'Thomas', 'Mia', 'Lachlan',
  'Grace', 'Oliver', 'Chloe', 'Henry', 'Sophie', 'Lucas', 'Emily', 'Ethan', 'Zoe', 'Liam', 'Ava', 'Samuel',
  'Ella', 'Harrison', 'Ruby', 'Cooper', 'Matilda', 'Hamish', 'Georgia', 'Daniel', 'Sarah', 'Michael',
  'Jessica', 'David', 'Rebecca', 'Matthew', 'Hannah', 'Andrew', 'Emma', 'Peter', 'Karen', 'Stephen',
  'Michelle', 'Paul', 'Lisa', 'Mark', 'Nicole', 'Craig', 'Kylie', 'Wei', 'Mei', 'Jun', 'Xin', 'Minh', 'Linh',
  'Arjun', 'Priya', 'Rahul', 'Ananya', 'Mohammed', 'Fatima', 'Ali', 'Aisha', 'Giorgos', 'Eleni', 'Marco',
  'Giulia', 'Dimitri', 'Sofia', 'Hiroshi', 'Yuki', 'Seo-yeon', 'Ji-ho', 'Tariq', 'Leila', 'Rangi', 'Aroha',
  'Jarrah', 'Kirra', 'Zoë', 'José', 'Siobhán', 'Chloé', 'Björn', 'Renée', 'Noémie', 'Søren', 'Łukasz',
  'Inês',
] as const;

// prettier-ignore
export const LAST_NAMES = [
  'Smith', 'Jones', 'Williams', 'Brown', 'Wilson', 'Taylor', 'Johnson', 'White', 'Martin', 'Anderson',
  'Thompson', 'Nguyen', 'Thomas', 'Walker', 'Harris', 'Lee', 'Ryan', 'Robinson', 'Kelly', 'King', 'Davis',
  'Wright', 'Evans', 'Roberts', 'Green', 'Hall', 'Wood', 'Jackson', 'Clarke', 'Patel', 'Khan', 'Singh',
  'Chen', 'Wang', 'Li', 'Zhang', 'Liu', 'Tran', 'Pham', 'Le', 'Papadopoulos', 'Nikolaidis', 'Rossi',
  'Bianchi', 'Russo', 'Kowalski', 'Novak', "O'Brien", 'McDonald', 'Murphy', 'Campbell', 'Stewart',
  'MacKenzie', 'Fitzgerald', 'Sullivan', 'Haddad', 'Khoury', 'Nasser', 'Yamamoto', 'Tanaka', 'Kim', 'Park',
  'Choi', 'Sharma', 'Gupta', 'Reddy', 'Fernando', 'Perera', 'Santos', 'Reyes', 'Cruz', 'Mendoza', 'Te Whare',
  'Ngata', 'Anderson-Hale', 'van der Berg', 'de Silva', 'Müller', 'Schäfer', 'Nguyễn', 'Trần', 'Gonçalves',
  'Sørensen', 'Østergaard', 'Dvořák', 'Łęcki',
] as const;

/** Full names in non-Latin scripts (with the romanisation an adviser would also write down). */
// prettier-ignore
export const NON_LATIN_NAMES = [
  '王伟 (Wang Wei)', '李娜 (Li Na)', '陈静 (Chen Jing)', '田中 さくら (Tanaka Sakura)', '佐藤 健 (Sato Ken)',
  '김민준 (Kim Min-jun)', '이서연 (Lee Seo-yeon)', 'Νίκος Παπαδόπουλος (Nikos Papadopoulos)',
  'Ελένη Γεωργίου (Eleni Georgiou)', 'Дмитрий Иванов (Dmitry Ivanov)', 'Ольга Смирнова (Olga Smirnova)',
  'محمد الأحمد (Mohammed Al-Ahmad)', 'فاطمة حداد (Fatima Haddad)', 'प्रिया शर्मा (Priya Sharma)',
  'राहुल वर्मा (Rahul Verma)', 'สมชาย ใจดี (Somchai Jaidee)', 'Nguyễn Thị Lan', 'עדי כהן (Adi Cohen)',
] as const;

// prettier-ignore
export const AU_CITIES: readonly (readonly [string, number])[] = [
  ['Sydney', 20], ['Melbourne', 19], ['Brisbane', 10], ['Perth', 8.5], ['Adelaide', 5.5], ['Gold Coast', 3],
  ['Canberra', 2.2], ['Newcastle', 2], ['Sunshine Coast', 1.4], ['Wollongong', 1.2], ['Geelong', 1.1],
  ['Hobart', 1], ['Townsville', 0.7], ['Cairns', 0.6], ['Darwin', 0.6], ['Toowoomba', 0.5],
  ['Ballarat', 0.45], ['Bendigo', 0.42], ['Albury', 0.3], ['Launceston', 0.3], ['Mackay', 0.25],
  ['Rockhampton', 0.25], ['Bunbury', 0.2], ['Wagga Wagga', 0.2], ['Orange', 0.15], ['Alice Springs', 0.1],
];

/** Suburbs that leads give as their location instead of the city (each with its state, for the text). */
// prettier-ignore
export const AU_SUBURBS = [
  'Parramatta', 'Bondi', 'Chatswood', 'Penrith', 'Cronulla', 'Manly', 'Blacktown', 'Liverpool', 'Fitzroy',
  'St Kilda', 'Box Hill', 'Frankston', 'Footscray', 'Dandenong', 'Werribee', 'Brunswick', 'Fortitude Valley',
  'Chermside', 'Indooroopilly', 'Ipswich', 'Logan', 'Fremantle', 'Joondalup', 'Rockingham', 'Glenelg',
  'Norwood', 'Salisbury', 'Belconnen', 'Tuggeranong', 'Sandy Bay', 'Palmerston',
] as const;

// prettier-ignore
export const OVERSEAS_CITIES = [
  'Auckland', 'Wellington', 'Christchurch', 'Singapore', 'London', 'Hong Kong', 'Kuala Lumpur',
  'Los Angeles', 'Toronto', 'Jakarta', 'Manila', 'Mumbai', 'Dubai', 'Suva', 'Port Moresby', 'Tokyo',
] as const;

export const STATE_OF: Readonly<Record<string, string>> = {
  Sydney: 'NSW',
  Newcastle: 'NSW',
  Wollongong: 'NSW',
  Albury: 'NSW',
  'Wagga Wagga': 'NSW',
  Orange: 'NSW',
  Parramatta: 'NSW',
  Bondi: 'NSW',
  Chatswood: 'NSW',
  Penrith: 'NSW',
  Cronulla: 'NSW',
  Manly: 'NSW',
  Blacktown: 'NSW',
  Liverpool: 'NSW',
  Melbourne: 'VIC',
  Geelong: 'VIC',
  Ballarat: 'VIC',
  Bendigo: 'VIC',
  Fitzroy: 'VIC',
  'St Kilda': 'VIC',
  'Box Hill': 'VIC',
  Frankston: 'VIC',
  Footscray: 'VIC',
  Dandenong: 'VIC',
  Werribee: 'VIC',
  Brunswick: 'VIC',
  Brisbane: 'QLD',
  'Gold Coast': 'QLD',
  'Sunshine Coast': 'QLD',
  Townsville: 'QLD',
  Cairns: 'QLD',
  Toowoomba: 'QLD',
  Mackay: 'QLD',
  Rockhampton: 'QLD',
  'Fortitude Valley': 'QLD',
  Chermside: 'QLD',
  Indooroopilly: 'QLD',
  Ipswich: 'QLD',
  Logan: 'QLD',
  Perth: 'WA',
  Bunbury: 'WA',
  Fremantle: 'WA',
  Joondalup: 'WA',
  Rockingham: 'WA',
  Adelaide: 'SA',
  Glenelg: 'SA',
  Norwood: 'SA',
  Salisbury: 'SA',
  Canberra: 'ACT',
  Belconnen: 'ACT',
  Tuggeranong: 'ACT',
  Hobart: 'TAS',
  Launceston: 'TAS',
  'Sandy Bay': 'TAS',
  Darwin: 'NT',
  Palmerston: 'NT',
  'Alice Springs': 'NT',
};

/** Occupation and the median annual income (AUD) it suggests. */
// prettier-ignore
export const OCCUPATIONS: readonly (readonly [string, number])[] = [
  ['registered nurse', 92_000], ['primary school teacher', 95_000], ['electrician', 105_000],
  ['software engineer', 145_000], ['accountant', 110_000], ['retail manager', 75_000],
  ['truck driver', 80_000], ['plumber', 100_000], ['carpenter', 88_000], ['police officer', 98_000],
  ['general practitioner', 250_000], ['dentist', 210_000], ['pharmacist', 105_000],
  ['physiotherapist', 90_000], ['civil engineer', 130_000], ['mining engineer', 190_000],
  ['FIFO electrician', 160_000], ['project manager', 150_000], ['marketing coordinator', 72_000],
  ['graphic designer', 70_000], ['barista', 48_000], ['chef', 62_000], ['hairdresser', 55_000],
  ['real estate agent', 120_000], ['mortgage broker', 125_000], ['small business owner', 95_000],
  ['café owner', 70_000], ['tradie (tiler)', 85_000], ['landscaper', 68_000], ['aged care worker', 58_000],
  ['childcare educator', 56_000], ['university lecturer', 135_000], ['research scientist', 115_000],
  ['solicitor', 160_000], ['barrister', 320_000], ['paramedic', 96_000], ['firefighter', 102_000],
  ['public servant (APS 6)', 105_000], ['executive level public servant', 140_000],
  ['data analyst', 110_000], ['cyber security consultant', 165_000], ['sales representative', 85_000],
  ['warehouse supervisor', 74_000], ['farmer', 90_000], ['winemaker', 82_000], ['pilot', 210_000],
  ['flight attendant', 72_000], ['personal trainer', 60_000], ['musician', 45_000], ['uber driver', 42_000],
  ['retiree', 38_000], ['full-time parent', 25_000], ['university student', 24_000],
  ['chief financial officer', 360_000], ['surgeon', 390_000], ['IT contractor', 180_000],
  ['architect', 125_000], ['veterinarian', 115_000], ['social worker', 85_000],
  ['HR business partner', 118_000],
];

// prettier-ignore
export const HOBBIES = [
  'surfing', 'cycling', 'running', 'gardening', 'fishing', 'camping', 'bushwalking', 'golf', 'tennis',
  'cooking', 'baking', 'photography', 'reading', 'yoga', 'pilates', 'swimming', 'netball', 'AFL footy',
  'rugby league', 'cricket', 'soccer', 'travel', 'caravanning', '4WD trips', 'scuba diving', 'sailing',
  'woodworking', 'home renovation', 'wine tasting', 'craft beer', 'board games', 'video games', 'chess',
  'volunteering', 'church community', 'painting', 'piano', 'guitar', 'choir', 'birdwatching', 'motorbikes',
  'marathon training', 'triathlon', 'rock climbing', 'skiing at Thredbo', 'horse riding', 'dog training',
  'podcasts', 'investing in ETFs', 'crypto trading', 'knitting', 'pottery', 'salsa dancing', 'astronomy',
  'restoring vintage cars', 'lawn bowls', 'Pokémon cards', 'mountain biking', 'kayaking', 'spearfishing',
] as const;

// prettier-ignore
export const PRODUCTS = [
  'term-life', 'income-protection', 'superannuation', 'home-loan', 'TPD cover', 'trauma cover',
  'health insurance', 'home and contents', 'car insurance', 'landlord insurance', 'business expenses cover',
  'key person cover', 'SMSF', 'account-based pension', 'annuity', 'funeral cover', 'travel insurance',
  'investment bonds', 'managed funds', 'refinance', 'offset account', 'reverse mortgage', 'estate planning',
  'buy-sell agreement', 'pet insurance', 'life insurance inside super', 'salary continuance',
] as const;

// prettier-ignore
export const PRODUCT_TAGS = [
  'term-life', 'income-protection', 'superannuation', 'home-loan', 'tpd', 'trauma', 'health-insurance',
  'home-contents', 'car-insurance', 'landlord', 'business-expenses', 'key-person', 'smsf', 'pension',
  'annuity', 'funeral', 'refinance', 'estate-planning',
] as const;

/** Free profile tags; the ones implied by the data (family, retiree, smoker, high-income...) are derived. */
export const PROFILE_TAGS = [
  'web-lead',
  'referral',
  'needs-callback',
  'price-sensitive',
  'self-employed',
  'dual-income',
  'investor',
  'first-home-buyer',
  'renewal',
  'source:web',
  'single-income',
  'small-business',
  'event-lead',
  'source:partner',
  'shift-worker',
  'fifo',
  'vip',
  'carer',
  'blended-family',
  'expat',
  'high-risk-occupation',
  'source:seminar',
  'campaign:eofy',
  'campaign:spring-2024',
  'segment:mass-affluent',
  'segment:emerging',
  'adviser/priority',
] as const;

// prettier-ignore
export const HOUSING = [
  'rents a two-bedroom unit', 'owns a three-bedroom house with a mortgage', 'owns their home outright',
  'lives with parents while saving a deposit', 'rents a townhouse',
  'owns an apartment and an investment property', 'is building a house in a new estate',
  'lives in a granny flat behind a family home', 'shares a rental with friends',
  'owns a rural property on acreage', 'recently downsized to a villa',
  'lives in employer-provided housing on site',
] as const;

export const PARTNERS = ['partner', 'wife', 'husband', 'de facto partner', 'fiancé', 'fiancée'] as const;

/** Children by the age band of the lead; the first entry of each band is the most common. */
export const CHILDREN = {
  young: [
    'a newborn',
    'a toddler',
    'two children (4 and 7)',
    'twin toddlers',
    'three kids under ten',
    'a baby on the way',
  ],
  middle: [
    'two teenagers',
    'a teenage son',
    'a daughter in year 12',
    'three school-age kids',
    'a son with a disability',
  ],
  older: [
    'a daughter at university',
    'adult children who have moved out',
    'an adult son living at home',
    'grandchildren every second weekend',
  ],
} as const;

export const OTHER_HOUSEHOLD = [
  'a dog named Biscuit',
  'two cats',
  'a kelpie',
  'an elderly mother',
  'a housemate',
  'a father-in-law with early dementia',
  'adult stepchildren who visit on weekends',
  'a border collie named Ziggy',
  'chickens in the backyard',
  'a cavoodle',
] as const;

// prettier-ignore
export const GOALS = [
  'make sure the mortgage is paid off if something happens to them',
  'replace 75% of income during any long illness', 'consolidate three super funds into one with lower fees',
  'retire at 60 with a comfortable lifestyle', 'buy a first home within two years',
  'refinance to a lower rate before the fixed term ends', 'fund private school fees for the kids',
  'leave an inheritance for the grandchildren', 'protect the business if a partner dies or becomes disabled',
  'understand what cover they already hold inside super', 'reduce premiums without losing important cover',
  'set up a will and enduring power of attorney', 'start salary sacrificing to boost super',
  'pay down credit card debt and personal loans', 'build an emergency fund of six months of expenses',
  'take a year off to travel around Australia', 'help an adult child with a house deposit',
  'move into aged care planning for a parent', 'switch to an ethical investment option',
  'understand the tax benefits of income protection outside super',
] as const;

// prettier-ignore
export const OBJECTIONS = [
  'thinks insurance premiums are too expensive right now',
  'already has some cover through super and believes it is enough',
  'is worried the insurer will not pay out on a claim', 'does not want to go through medical underwriting',
  'wants to compare quotes online before committing', 'needs to talk it over with their partner first',
  'had a bad experience with a previous adviser', 'is unsure about stepped versus level premiums',
  'is concerned about pre-existing condition exclusions', 'thinks they are too young to need life insurance',
  'prefers to self-insure by building savings', 'does not trust banks after the royal commission',
  'is waiting until after the next pay rise', 'finds the product disclosure statement confusing',
  'worries about being locked into a long contract',
  'is concerned about the waiting period on income protection', 'heard premiums increase sharply with age',
] as const;

// prettier-ignore
export const CHANNELS = [
  'phone call', 'email', 'SMS', 'video call', 'in-person meeting', 'WhatsApp', 'LinkedIn message', 'webinar',
  'web chat', 'branch visit', 'postal mail',
] as const;

// prettier-ignore
export const INTERACTION_TOPICS = [
  'discussed the quote for {product} and the premium structure',
  'sent the product disclosure statement for {product}',
  'walked through how {product} works with their existing super',
  'answered questions about claims on {product}', 'reviewed their budget and how {product} fits into it',
  'followed up on the medical questionnaire for {product}',
  'talked about beneficiaries and nomination forms',
  'explained the difference between stepped and level premiums',
  'confirmed their occupation class and smoker status', 'arranged a meeting with their partner present',
  'lead did not answer; left a voicemail about {product}',
  'lead asked to be called back after school pick-up', 'shared a comparison of three insurers for {product}',
  'lead mentioned a friend recently had a claim paid',
  'discussed the cooling-off period and cancellation terms', 'reviewed the statement of advice draft',
  'lead uploaded payslips and their latest super statement', 'clarified the waiting and benefit periods',
  'talked through the tax deductibility of premiums',
  'lead raised concerns about privacy of medical records', 'booked a follow-up for after the EOFY rush',
  'lead confirmed they are happy to proceed with {product}',
  'application for {product} submitted to underwriting', 'underwriting requested a GP report',
  'policy for {product} issued; welcome pack sent',
] as const;

// prettier-ignore
export const ADJECTIVES = [
  'cautious', 'pragmatic', 'friendly', 'busy', 'detail-oriented', 'analytical', 'sceptical', 'enthusiastic',
  'time-poor', 'well-informed', 'anxious', 'decisive', 'chatty', 'reserved', 'price-conscious', 'loyal',
  'organised', 'forgetful', 'curious', 'straightforward',
] as const;

// prettier-ignore
export const NOTE_SENTENCES = [
  'Prefers plain English over jargon and appreciates short summaries.',
  'Responds best in the evening after the kids are asleep.',
  'Mentioned that a colleague had a serious accident last year, which made them think about cover.',
  'Wants everything in writing before making a decision.',
  'Has a tendency to go quiet for a few weeks and then re-engage.',
  'Asked about discounts for bundling policies together.',
  'Is interested in a financial health check for the whole family.',
  'Was referred by an existing client who is very satisfied.',
  'Compared us with two comparison websites already.',
  'Their employer offers group salary continuance with a 90-day waiting period.',
  'They would like a female adviser if possible.',
  'English is a second language; offer an interpreter for complex meetings.',
  'Keen on digital signatures and an app to manage policies.',
  'Needs cover to start before settlement on the new house.',
  'Has a family history of heart disease on the father’s side.',
  'Played representative rugby and has had two knee reconstructions.',
  'Travels overseas for work about four times a year.',
  'Would consider a self-managed super fund in a few years.',
  'Do not call during school holidays; they go camping off-grid.',
  'Asked for the premium to be paid monthly by direct debit.',
] as const;

export const EMOJI = ['🙂', '👍', '🏠', '💼', '👶', '🐶', '☕', '📞', '✅', '⚠️', '🇦🇺', '🏄‍♀️', '👨‍👩‍👧‍👦'] as const;

// prettier-ignore
export const ADVISERS = [
  'Sam Porter', 'Jess Nguyen', 'Raj Patel', 'Claire Donovan', 'Tom Whitfield', 'Aisha Rahman',
  'Ben Kowalski', 'Mei Lin', 'Hugh Sinclair', 'Tanya Brooks',
] as const;

// prettier-ignore
export const LEAD_SOURCES = [
  'web-form', 'referral', 'comparison-site', 'seminar', 'partner-bank', 'social-ad', 'inbound-call',
  'employer-program',
] as const;

/** Made-up employers: two open lists combine into hundreds of rare terms, like real company names do. */
export const EMPLOYER_PREFIXES = [
  'Bluegum',
  'Kestrel',
  'Harbourside',
  'Southern',
  'Coastal',
  'Ironbark',
  'Wattle',
  'Banksia',
  'Redgum',
  'Pinnacle',
  'Tasman',
  'Outback',
  'Riverina',
  'Kookaburra',
  'Jacaranda',
  'Coral',
  'Summit',
  'Eastside',
  'Westgate',
  'Gumtree',
  'Brolga',
  'Mallee',
  'Spinifex',
  'Yarra',
  'Swan',
  'Torrens',
  'Derwent',
  'Murray',
  'Sandstone',
  'Saltwater',
] as const;

export const EMPLOYER_SUFFIXES = [
  'Logistics',
  'Dental',
  'Constructions',
  'Health',
  'Legal',
  'Electrical',
  'Plumbing',
  'Consulting',
  'Motors',
  'Analytics',
  'Hospitality',
  'Mining Services',
  'Veterinary Clinic',
  'Pharmacy',
  'Engineering',
  'Bakery',
  'Childcare Centre',
  'Architects',
  'Freight',
  'Software',
  'Accounting',
  'Realty',
  'Landscapes',
  'Aged Care',
] as const;

export const CARS = [
  'Toyota HiLux',
  'Ford Ranger',
  'Mazda CX-5',
  'Toyota RAV4',
  'Hyundai i30',
  'Kia Sportage',
  'Tesla Model 3',
  'Mitsubishi Outlander',
  'Toyota LandCruiser',
  'Subaru Forester',
  'Volkswagen Golf',
  'Isuzu D-Max',
  'BYD Atto 3',
  'Holden Commodore',
  'Nissan Patrol',
  'Honda Civic',
  'MG ZS',
  'BMW X5',
  'Mercedes GLC',
  'Suzuki Swift',
] as const;

export const HEALTH_NOTES = [
  'mild asthma',
  'high blood pressure managed with medication',
  'a previous back injury',
  'type 2 diabetes',
  'anxiety treated by a psychologist',
  'a knee reconstruction',
  'high cholesterol',
  'sleep apnoea',
  'migraines',
  'a shoulder dislocation from footy',
  'coeliac disease',
  'gestational diabetes in a past pregnancy',
  'skin cancers removed',
  'a heart murmur',
  'no health issues at all',
  'hay fever',
  'tinnitus',
  'gout',
] as const;

// prettier-ignore
export const DETAIL_TEMPLATES = [
  'Works at {employer} and has been there {years} years.', 'Drives a {car} and is thinking about upgrading.',
  'Disclosed {health}.', 'Partner works at {employer}.', 'Spends most weekends {hobby}.',
  'Previously worked at {employer} before a redundancy.', 'Mentioned {health} in the family.',
  'Just bought a {car} on finance.', 'Asked whether {hobby} would affect the premium.',
  'Their brother works at {employer} and recommended us.',
] as const;
