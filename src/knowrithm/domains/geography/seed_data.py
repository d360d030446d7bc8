"""Reference geography seeded at bootstrap and by `GET /address-seed`.

A modest starter set (not a gazetteer): enough for pickers and addresses out of the box.
Operators add the rest through the admin routes. Shape: country -> (ISO 3166-1 alpha-2,
{state: [(city, postal code prefix or None)]}).
"""
from __future__ import annotations

COUNTRIES: dict[str, tuple[str, dict[str, list[tuple[str, str | None]]]]] = {
    "United States": ("US", {
        "California": [("Los Angeles", "900"), ("San Francisco", "941"), ("San Diego", "921")],
        "New York": [("New York City", "100"), ("Buffalo", "142")],
        "Texas": [("Houston", "770"), ("Austin", "787"), ("Dallas", "752")],
        "Washington": [("Seattle", "981")],
    }),
    "Canada": ("CA", {
        "Ontario": [("Toronto", "M"), ("Ottawa", "K1")],
        "Quebec": [("Montreal", "H"), ("Quebec City", "G1")],
        "British Columbia": [("Vancouver", "V5")],
    }),
    "United Kingdom": ("GB", {
        "England": [("London", None), ("Manchester", "M"), ("Birmingham", "B")],
        "Scotland": [("Edinburgh", "EH"), ("Glasgow", "G")],
        "Wales": [("Cardiff", "CF")],
    }),
    "Germany": ("DE", {
        "Bavaria": [("Munich", "80"), ("Nuremberg", "90")],
        "Berlin": [("Berlin", "10")],
        "Hamburg": [("Hamburg", "20")],
    }),
    "France": ("FR", {
        "Ile-de-France": [("Paris", "75")],
        "Auvergne-Rhone-Alpes": [("Lyon", "69")],
    }),
    "Nigeria": ("NG", {
        "Lagos": [("Lagos", "100"), ("Ikeja", "100")],
        "Federal Capital Territory": [("Abuja", "900")],
        "Rivers": [("Port Harcourt", "500")],
    }),
    "Kenya": ("KE", {
        "Nairobi County": [("Nairobi", "00")],
        "Mombasa County": [("Mombasa", "80")],
    }),
    "India": ("IN", {
        "Maharashtra": [("Mumbai", "400"), ("Pune", "411")],
        "Karnataka": [("Bengaluru", "560")],
        "Delhi": [("New Delhi", "110")],
    }),
    "Australia": ("AU", {
        "New South Wales": [("Sydney", "2000")],
        "Victoria": [("Melbourne", "3000")],
    }),
    "Brazil": ("BR", {
        "Sao Paulo": [("Sao Paulo", "01")],
        "Rio de Janeiro": [("Rio de Janeiro", "20")],
    }),
}
