"""French messages for the circuit's error codes: what happened and what to do."""

from __future__ import annotations

from typing import Any

__all__ = ["MESSAGES", "message_for"]

MESSAGES: dict[str, str] = {
    # 404 / 410
    "unknown-link": "Ce lien n'est pas (ou plus) valable. Il a peut-être expiré avec le "
                    "circuit ou été remplacé : demandez un nouveau lien au coordinateur.",
    "unknown-head": "Cette version du document n'existe pas dans le circuit.",
    "unknown-session": "Cette session de signature n'existe pas. Relancez la signature.",
    "unknown-circuit": "Ce circuit de signature n'existe pas. Vérifiez son identifiant.",
    "unknown-slot": "Ce signataire ne fait pas partie du circuit. Vérifiez son "
                    "identifiant (par exemple maire-gignac).",
    "lease-expired": "La session de signature a expiré avant que la signature ne soit "
                     "reçue. Relancez la signature : le document vous sera de nouveau "
                     "présenté.",
    # 409
    "head-moved": "Le document a changé depuis que vous l'avez téléchargé : une autre "
                  "signature a été ajoutée entre-temps. Téléchargez la nouvelle version, "
                  "signez-la et déposez-la à nouveau.",
    "already-signed": "Vous avez déjà signé ce document ; il n'y a rien d'autre à faire.",
    "not-your-turn": "Ce n'est pas encore votre tour de signer : les signataires de "
                     "l'étape précédente n'ont pas tous signé. Vous recevrez un courriel "
                     "dès que ce sera le cas.",
    "circuit-closed": "Le circuit de signature est clos (terminé, refusé, annulé ou "
                      "expiré) : aucune signature n'est plus acceptée. Contactez le "
                      "coordinateur.",
    "not-invited": "La signature de cette personne n'est pas attendue en ce moment (elle "
                   "a signé, ou son étape n'est pas ouverte) : il n'y a personne à "
                   "relancer.",
    "busy": "Un autre signataire est en train de signer. Réessayez dans quelques "
            "secondes.",
    "not-reopenable": "Seul un circuit refusé ou expiré peut être rouvert.",
    "deadline-passed": "La date limite est passée : indiquez une nouvelle date limite.",
    "circuit-exists": "Un circuit porte déjà cet identifiant.",
    # 413 / 415
    "too-large": "Le fichier déposé est trop volumineux. Déposez le document signé tel "
                 "que votre logiciel de signature l'a produit, sans l'optimiser ni le "
                 "joindre à un autre.",
    "not-pdf": "Le fichier déposé n'est pas un PDF. Déposez le document signé au format "
               "PDF.",
    # 422
    "no-new-signature": "Le document déposé ne contient pas de nouvelle signature. "
                        "Signez-le dans votre logiciel (dans le champ prévu pour vous) "
                        "avant de le déposer.",
    "not-incremental": "Le document déposé a été réécrit par le logiciel qui l'a signé ou "
                       "modifié : la signature doit être ajoutée sans réenregistrer le "
                       "document. Téléchargez-le de nouveau, signez-le sans l'enregistrer "
                       "sous un autre format, puis déposez-le.",
    "wrong-field": "Vous avez signé dans un autre champ que le vôtre. Téléchargez de "
                   "nouveau le document et signez dans le champ « {field} » (votre bloc "
                   "de signature), puis déposez-le.",
    "several-signatures": "Le document déposé contient plusieurs nouvelles signatures. "
                          "Chaque signataire signe une seule fois, dans son propre champ : "
                          "téléchargez de nouveau le document et signez uniquement votre "
                          "champ.",
    "signer-mismatch": "Le certificat utilisé n'est pas à votre nom : il ne correspond "
                       "pas au signataire attendu ({expected}). Signez avec votre propre "
                       "certificat de signature, ou demandez au coordinateur de désigner "
                       "la personne qui signe par délégation.",
    "unsuitable-certificate": "Le certificat utilisé n'est pas un certificat de "
                              "signature (c'est peut-être celui d'authentification de "
                              "votre carte). Choisissez le certificat de signature.",
    "bad-certificate": "Le certificat transmis est illisible. Vérifiez le fichier ou la "
                       "carte utilisés.",
    "untrusted": "Le certificat utilisé n'est pas reconnu : il n'est pas délivré par une "
                 "autorité de confiance acceptée, a expiré, ou son état de révocation n'a "
                 "pas pu être vérifié. Signez avec un certificat de signature valide.",
    "revoked": "Le certificat utilisé a été révoqué. Signez avec un certificat valide et "
               "contactez son émetteur.",
    "invalid-signature": "La signature est invalide : le document a été modifié après "
                         "la signature ou la signature est endommagée. Téléchargez de "
                         "nouveau le document et signez-le sans le modifier.",
    "forbidden-change": "Le document a été modifié au-delà de l'ajout de votre "
                        "signature (contenu, pages, annotations ou champs). Téléchargez "
                        "de nouveau le document et signez-le sans rien y changer.",
    "damaged": "Le fichier déposé est endommagé ou illisible. Téléchargez de nouveau le "
               "document, signez-le et déposez-le.",
    "too-complex": "Le fichier déposé est anormalement complexe et n'a pas pu être "
                   "vérifié. Déposez le document tel que votre logiciel de signature l'a "
                   "produit.",
    "reason-required": "Indiquez le motif de votre refus.",
    "unknown-field": "Le document n'a pas de champ de signature pour ce signataire.",
    "bad-circuit-id": "L'identifiant du circuit n'est pas valable.",
    "bad-slots": "La liste des signataires du circuit n'est pas valable.",
    "bad-request": "La requête est incomplète ou mal formée.",
    "unauthorized": "Accès refusé : présentez le lien du coordinateur de ce circuit.",
    "rate-limited": "Trop de tentatives infructueuses. Patientez quelques minutes avant "
                    "de réessayer.",
    "timestamp-unavailable": "Le service d'horodatage est momentanément indisponible. "
                             "Réessayez dans quelques minutes.",
    "unavailable": "Le service est momentanément indisponible. Réessayez dans quelques "
                   "minutes.",
}


def message_for(code: str, details: dict[str, Any] | None = None) -> str:
    """The French message of ``code``, filled with ``details`` when it uses them."""
    template = MESSAGES.get(code, "La demande a été refusée.")
    values: dict[str, object] = {"field": "prévu pour vous", "expected": "le signataire prévu"}
    values.update({k: v for k, v in (details or {}).items() if isinstance(v, str | int)})
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template
